# frozen_string_literal: true

# A small Rails 6.1 + Devise 4.8 application for the sesame tests, the CDN
# harness and the benchmark. APP_MODE=sesame (default) runs it on sesame
# (three lines of config below); APP_MODE=cookie is the same app on Rails'
# CookieStore alone, as before the switch.
#
#   APP_DB=/tmp/app.db SESAME_KEYSET="$(sesame keyset new)" puma -e production config.ru
#
# Environment: APP_DB (SQLite file, made if missing), SESAME_KEYSET,
# SESAME_REGISTRY (a registry URL), APP_TIMEOUT (Devise timeout_in, s),
# APP_REFRESH_AFTER (s), APP_MIGRATE_UNTIL (unix time), SECRET_KEY_BASE.
require "logger"
require "rails"
require "active_record/railtie"
require "action_controller/railtie"
require "action_view/railtie"
require "devise"

SESAME_MODE = ENV.fetch("APP_MODE", "sesame") == "sesame"
if SESAME_MODE
  $LOAD_PATH.unshift File.expand_path("../../../bindings/ruby/lib", __dir__)
  require "sesame" # with Rails loaded, this brings in the Railtie (config.sesame)
end
ENV["DATABASE_URL"] ||= "sqlite3:#{ENV.fetch("APP_DB", File.join(Dir.tmpdir, "sesame-rails-app.db"))}?pool=8"

class TestApp < Rails::Application
  config.root = __dir__
  config.eager_load = false
  config.cache_classes = true
  config.consider_all_requests_local = ENV["APP_DEBUG"] == "1"
  config.secret_key_base = ENV.fetch("SECRET_KEY_BASE", "s" * 64)
  config.logger = Logger.new($stderr, level: ENV.fetch("APP_LOG_LEVEL", "warn"))
  config.log_level = ENV.fetch("APP_LOG_LEVEL", "warn").to_sym
  config.hosts.clear
  config.session_store :cookie_store, key: "_app_session"
  config.action_controller.forgery_protection_origin_check = true
  config.active_record.legacy_connection_handling = false

  if SESAME_MODE
    # The switch: the gem, and these lines.
    config.sesame.keyset = ENV["SESAME_KEYSET"]
    config.sesame.registry = ENV["SESAME_REGISTRY"]
    config.sesame.migrate_cookie_store_until = Time.at(Integer(ENV["APP_MIGRATE_UNTIL"], 10)) if ENV["APP_MIGRATE_UNTIL"]
    config.sesame.refresh_after = Integer(ENV["APP_REFRESH_AFTER"], 10) if ENV["APP_REFRESH_AFTER"]
  end
end

Devise.setup do |c|
  require "devise/orm/active_record"
  c.mailer_sender = "app@example.test"
  c.timeout_in = Integer(ENV.fetch("APP_TIMEOUT", "1800"), 10).seconds
  c.remember_for = 14.days
  c.stretches = 4 # bcrypt's minimum: a test app
  c.sign_out_via = :delete
  c.navigational_formats = ["*/*", :html]
end

Rails.application.initialize!

ActiveRecord::Migration.verbose = false
ActiveRecord::Schema.define do
  create_table :users, if_not_exists: true do |t|
    t.string :email, null: false, default: ""
    t.string :encrypted_password, null: false, default: ""
    t.datetime :remember_created_at
    t.integer :sign_in_count, default: 0, null: false
    t.datetime :current_sign_in_at
    t.datetime :last_sign_in_at
    t.string :current_sign_in_ip
    t.string :last_sign_in_ip
    t.timestamps null: true
  end
  add_index :users, :email, unique: true, if_not_exists: true
end
