# frozen_string_literal: true

module Sesame
  # The gem's version; the native library's is Sesame.library_version.
  VERSION = "0.1.0"
end
