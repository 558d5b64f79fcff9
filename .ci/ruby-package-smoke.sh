#!/usr/bin/env bash
# CI step: build the Ruby gem (sesame-session) with libsesame inside, install
# it into a temporary GEM_HOME and run the README quick start against it.
# Needs cargo and the Debian packages ruby ruby-ffi (ruby-rack for config.ru).
set -euo pipefail
exec bash "$(dirname "$0")/../bindings/ruby/package-smoke.sh" "$@"
