# frozen_string_literal: true

# Puma cluster for cluster_test.rb: two forked workers of one preloaded app.
workers 2
threads 2, 2
preload_app!
environment "production"
bind "tcp://127.0.0.1:#{ENV.fetch("PORT")}"
rackup File.expand_path("app.ru", __dir__)
persistent_timeout 60
