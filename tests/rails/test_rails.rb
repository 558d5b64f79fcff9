# frozen_string_literal: true

# Rails 6.1 + Devise 4.8 on sesame, end to end: the app in tests/rails/app
# under Puma on 127.0.0.1, driven over HTTP by browsers with cookie jars
# (lib/browser.rb). Run by tests/rails/run.sh (which sets SESAME_KEYSET and
# SESAME_LIB); every server is stopped by its PID.
require "minitest/autorun"
require "tmpdir"
require "fileutils"
require_relative "lib/browser"
require_relative "lib/server"

module RailsApp
  TIMEOUT = 4 # Devise timeout_in of the app under test, seconds
  WORK = Dir.mktmpdir("sesame-rails-")
  BASE_ENV = {
    "APP_DB" => File.join(WORK, "app.db"), "SECRET_KEY_BASE" => "k" * 64,
    "SESAME_KEYSET" => ENV.fetch("SESAME_KEYSET"), "APP_TIMEOUT" => TIMEOUT.to_s
  }.freeze
  PASSWORD = "password123"

  def self.boot(name, env)
    AppServer.new(BASE_ENV.merge(env), log: File.join(WORK, "#{name}.log")).start
  end

  def self.sign_up(browser, email, password = PASSWORD)
    page = browser.get("/users/sign_up")
    browser.post("/users", "authenticity_token" => Browser.token(page.body), "user[email]" => email,
                           "user[password]" => password, "user[password_confirmation]" => password)
  end

  def self.sign_in(browser, email, password = PASSWORD, remember: false)
    page = browser.get("/users/sign_in")
    browser.post("/users/sign_in", "authenticity_token" => Browser.token(page.body), "user[email]" => email,
                                   "user[password]" => password, "user[remember_me]" => remember ? "1" : "0")
  end

  def self.sign_out(browser)
    page = browser.get("/")
    browser.post("/users/sign_out", "_method" => "delete", "authenticity_token" => Browser.token(page.body))
  end

  # Logins minted by the app on Rails' CookieStore, before the switch.
  def self.mint_old_cookies
    server = boot("cookie-store", "APP_MODE" => "cookie")
    cookies = %w[old1@example.test old2@example.test old3@example.test].to_h do |email|
      b = Browser.new(server.port, email)
      res = sign_up(b, email)
      raise "cookie-store sign-up failed: #{res.code}" unless res.body.include?("signed in as #{email}")

      [email, b.cookie("_app_session")]
    end
    # Devise's own remember-me cookie, from a sign-in with the box ticked.
    b = Browser.new(server.port, "old-remember")
    sign_in(b, "old3@example.test", remember: true)
    cookies.merge("remember_user_token" => b.cookie("remember_user_token") || raise("no Devise remember cookie"))
  ensure
    server&.stop
  end

  OLD_COOKIES = mint_old_cookies
  SERVER = boot("sesame", "SESAME_REGISTRY" => "sqlite://#{File.join(WORK, "sessions.db")}",
                          "APP_MIGRATE_UNTIL" => (Time.now.to_i + 3600).to_s)
  Minitest.after_run do
    SERVER.stop
    FileUtils.rm_rf(WORK) unless ENV["KEEP"]
  end
end

class RailsDeviseTest < Minitest::Test
  include RailsApp

  def browser(name = name())
    Browser.new(SERVER.port, name)
  end

  def email(tag)
    "#{tag}-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}@example.test"
  end

  def whoami(b)
    b.get("/whoami").body
  end

  def rails_cookie_lines(res)
    Browser.set_cookies(res).select { |l| l.start_with?("_app_session=") }
  end

  def test_sign_up_and_in_keep_the_login_out_of_rails_session
    b = browser
    me = email("up")
    res = RailsApp.sign_up(b, me)
    assert_includes res.body, "signed in as #{me}"
    assert_includes b.get("/secret").body, "secret of #{me}"
    assert b.names.any? { |n| n.start_with?("__Host-sesame-s-") }, "a sesame session cookie: #{b.names}"
    assert b.cookie("__Host-sesame-device")

    # A GET that changes nothing sets no Rails session cookie.
    assert_empty rails_cookie_lines(b.get("/secret"))
    # Rails' session cookie alone logs no one in (a cache replaying it hands over nothing).
    only_rails = browser("only-rails")
    only_rails.store("_app_session=#{b.cookie("_app_session")}")
    assert_equal "anonymous", whoami(only_rails)

    RailsApp.sign_out(b)
    assert_equal "anonymous", whoami(b)
    res = RailsApp.sign_in(b, me)
    assert_includes res.body, "signed in as #{me}"
    assert_includes res.body, "Signed in successfully."
  end

  def test_forms_pass_csrf_and_forgeries_fail
    b = browser
    RailsApp.sign_up(b, email("csrf"))
    token = Browser.token(b.get("/notes").body)
    res = b.post("/notes", "authenticity_token" => token, "note" => "first")
    assert_equal "200", res.code
    assert_includes res.body, "saved first"
    refute_includes b.get("/notes").body, "saved first", "a flash shows once"
    # Tokens are masked per page and stay valid across requests of the device.
    assert_includes b.post("/notes", "authenticity_token" => token, "note" => "again").body, "saved again"

    assert_equal "422", b.post("/notes", { "note" => "no token" }, follow: false).code
    other = browser("other")
    RailsApp.sign_up(other, email("csrf-other"))
    foreign = Browser.token(other.get("/notes").body)
    assert_equal "422", b.post("/notes", { "authenticity_token" => foreign, "note" => "x" }, follow: false).code

    # A browser without a device yet (a first visit): the Origin rule.
    fresh = browser("fresh")
    page = fresh.get("/users/sign_in")
    res = fresh.post("/users/sign_in", { "authenticity_token" => Browser.token(page.body), "user[email]" => "x@y.z",
                                         "user[password]" => "wrong" }, origin: "http://evil.example", follow: false)
    assert_equal "422", res.code
  end

  def test_a_replayed_rails_cookie_breaks_no_form_and_shows_no_flash
    alice = browser("alice")
    RailsApp.sign_up(alice, email("alice"))
    RailsApp.sign_out(alice)
    # Alice (a device, no session) is sent to sign in by a GET: the flash
    # lands in a Rails session cookie on a GET response, which a cache keeps.
    redirect = alice.get("/secret", follow: false)
    assert_equal "302", redirect.code
    replayed = rails_cookie_lines(redirect)
    assert_equal 1, replayed.size, "the GET response carries Alice's Rails session"
    assert_includes alice.get("/users/sign_in").body, "You need to sign in", "Alice sees her own flash"

    bob = browser("bob")
    bob_email = email("bob")
    RailsApp.sign_up(bob, bob_email)
    token = Browser.token(bob.get("/notes").body)
    bob.store(replayed.first) # the cache replays Alice's response to Bob
    page = bob.get("/notes")
    refute_includes page.body, "You need to sign in", "Alice's flash on Bob's page"
    res = bob.post("/notes", "authenticity_token" => token, "note" => "bobs")
    assert_equal "200", res.code, "Bob's open form still submits"
    assert_includes res.body, "saved bobs"
    assert_includes res.body, "signed in as #{bob_email}"
  end

  def test_sign_out_ends_the_session_and_a_replayed_cookie_is_refused
    b = browser
    RailsApp.sign_up(b, email("out"))
    copy = b.clone_as("copy")
    assert_match(/\Auser \d+\z/, whoami(copy))
    RailsApp.sign_out(b)
    assert_equal "anonymous", whoami(b)
    assert_equal "anonymous", whoami(copy), "a copy of the signed-out cookie still works"
    refute_includes copy.get("/secret").body, "secret of"
  end

  def test_remember_me_survives_a_restart_and_idle_times_out_browser_sessions
    me = email("rem")
    RailsApp.sign_up(browser("setup"), me)
    remembered = browser("remembered")
    assert_includes RailsApp.sign_in(remembered, me, remember: true).body, "signed in as #{me}"
    refute remembered.cookie("remember_user_token"), "Devise's own remember cookie is not set"
    plain = browser("plain")
    RailsApp.sign_in(plain, me)
    idle = browser("idle")
    RailsApp.sign_in(idle, me)
    # A browser that keeps the cookie past its Max-Age (the core sets it to
    # the idle timeout, so most browsers drop it when the server would refuse it).
    keeper = idle.clone_as("keeps expired cookies")
    keeper.jar.each_value { |c| c.expires_at = nil }
    remembered.restart
    plain.restart
    sleep TIMEOUT + 1.5
    assert_equal "anonymous", whoami(plain)
    refute_includes idle.get("/secret").body, "secret of"
    page = keeper.get("/secret")
    refute_includes page.body, "secret of"
    assert_includes page.body, "Your session expired", "Devise's timeout message for an idle-expired cookie"
    assert_includes remembered.get("/secret").body, "secret of #{me}", "remember me across a restart and the idle timeout"
  end

  def test_trackable_counts_sign_ins_only
    b = browser
    me = email("track")
    RailsApp.sign_up(b, me)
    5.times { b.get("/secret") }
    assert_match(/sign_in_count=1\z/, b.get("/me").body)
    RailsApp.sign_out(b)
    RailsApp.sign_in(b, me)
    3.times { b.get("/secret") }
    assert_match(/sign_in_count=2\z/, b.get("/me").body)
  end

  def test_password_change_ends_the_other_sessions
    me = email("pw")
    a = browser("a")
    RailsApp.sign_up(a, me)
    b = browser("b")
    RailsApp.sign_in(b, me)
    assert_match(/\Auser \d+\z/, whoami(b))
    edit = a.get("/users/edit")
    res = a.post("/users", "_method" => "put", "authenticity_token" => Browser.token(edit.body),
                           "user[email]" => me, "user[password]" => "new-password-1",
                           "user[password_confirmation]" => "new-password-1", "user[current_password]" => PASSWORD)
    assert_equal "200", res.code
    assert_includes res.body, "signed in as #{me}", "the browser that changed it stays signed in"
    assert_equal "anonymous", whoami(b)
    assert_includes RailsApp.sign_in(b, me, "new-password-1").body, "signed in as #{me}"
  end

  def test_sessions_list_and_revoke
    me = email("list")
    a = browser("laptop")
    RailsApp.sign_up(a, me)
    b = browser("phone")
    RailsApp.sign_in(b, me, remember: true)
    page = a.get("/sessions").body
    ids = page.scan(/data-id="(\h{32})"/).flatten
    assert_equal 2, ids.size, page
    assert_includes page, "(this device)"
    assert_includes page, 'data-kind="remember_me"'
    other = page[/data-id="(\h{32})"[^>]*>sesame-rails-test phone/, 1]
    assert other, page
    a.post("/sessions", "authenticity_token" => Browser.token(page), "id" => other)
    assert_equal "anonymous", whoami(b)
    assert_match(/\Auser \d+\z/, whoami(a))
  end

  def test_migration_from_a_cookie_store_login
    old = browser("old")
    old.store("_app_session=#{OLD_COOKIES.fetch("old1@example.test")}")
    # GET: honoured read-only; the response sets no cookie.
    res = old.get("/secret")
    assert_includes res.body, "secret of old1@example.test"
    assert_empty Browser.set_cookies(res), "a GET sends no cookie carrying the old login"
    # The first non-GET moves the login into sesame and out of Rails' session.
    page = old.get("/notes")
    res = old.post("/notes", { "authenticity_token" => Browser.token(page.body), "note" => "migrated" }, follow: false)
    assert_equal "302", res.code
    names = Browser.set_cookies(res).map { |l| l[/\A[^=]+/] }
    assert_includes names, "__Host-sesame-device"
    assert(names.any? { |n| n.start_with?("__Host-sesame-s-") }, names.inspect)
    assert_includes old.get("/notes").body, "saved migrated"
    assert_match(/\Auser \d+\z/, whoami(old))
    only_rails = browser("only-new-rails-cookie")
    only_rails.store("_app_session=#{old.cookie("_app_session")}")
    assert_equal "anonymous", whoami(only_rails), "the migrated Rails session still carries the login"
  end
end

class RailsDeviseRememberMigrationTest < Minitest::Test
  def test_a_devise_remember_cookie_moves_into_a_remember_me_session
    b = Browser.new(RailsApp::SERVER.port, "old-remember")
    b.store("remember_user_token=#{RailsApp::OLD_COOKIES.fetch("remember_user_token")}; Max-Age=1209600")
    res = b.get("/secret")
    assert_includes res.body, "secret of old3@example.test"
    assert_empty Browser.set_cookies(res), "a GET sends no cookie for the old login"
    page = b.get("/notes")
    res = b.post("/notes", { "authenticity_token" => Browser.token(page.body), "note" => "moved" }, follow: false)
    assert_equal "302", res.code
    assert(Browser.set_cookies(res).any? { |l| l.start_with?("remember_user_token=;") }, "Devise's cookie deleted")
    assert_nil b.cookie("remember_user_token")
    b.restart
    assert_includes b.get("/secret").body, "secret of old3@example.test", "a remember-me session, across a restart"
    assert_includes b.get("/sessions").body, 'data-kind="remember_me"'
  end
end

class RailsStatelessTest < Minitest::Test
  # Without a registry a password change still ends the other sessions:
  # every token carries Devise's salt, which the change replaced.
  def test_a_password_change_ends_other_sessions_without_a_registry
    server = RailsApp.boot("stateless", "SESAME_REGISTRY" => "")
    me = "stateless-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}@example.test"
    a = Browser.new(server.port, "a")
    RailsApp.sign_up(a, me)
    b = Browser.new(server.port, "b")
    RailsApp.sign_in(b, me)
    assert_includes b.get("/secret").body, "secret of #{me}"
    edit = a.get("/users/edit")
    a.post("/users", "_method" => "put", "authenticity_token" => Browser.token(edit.body), "user[email]" => me,
                     "user[password]" => "another-password", "user[password_confirmation]" => "another-password",
                     "user[current_password]" => RailsApp::PASSWORD)
    assert_includes a.get("/secret").body, "secret of #{me}"
    refute_includes b.get("/secret").body, "secret of", "a session from before the password change"
  ensure
    server&.stop
  end
end

class RailsMigrationWindowTest < Minitest::Test
  def test_old_logins_are_ignored_after_the_window
    server = RailsApp.boot("window-closed", "SESAME_REGISTRY" => "sqlite://#{File.join(RailsApp::WORK, "sessions.db")}",
                                            "APP_MIGRATE_UNTIL" => (Time.now.to_i - 1).to_s)
    b = Browser.new(server.port, "late")
    b.store("_app_session=#{RailsApp::OLD_COOKIES.fetch("old2@example.test")}")
    assert_equal "anonymous", b.get("/whoami").body
    refute_includes b.get("/secret").body, "secret of"
    # Before the window closed, the same cookie logged in.
    open_server = RailsApp::SERVER
    c = Browser.new(open_server.port, "late-open")
    c.store("_app_session=#{RailsApp::OLD_COOKIES.fetch("old2@example.test")}")
    assert_match(/\Auser \d+\z/, c.get("/whoami").body)
  ensure
    server&.stop
  end
end

class RailsGeneratorTest < Minitest::Test
  def test_the_install_generator_writes_an_initializer_that_loads
    Dir.mktmpdir("sesame-gen-") do |dir|
      lib = File.expand_path("../../bindings/ruby/lib", __dir__)
      app = File.expand_path("app/app.rb", __dir__)
      script = <<~RUBY
        require #{app.inspect}
        require "rails/generators"
        # found by name, as `rails generate sesame:install` finds it
        Rails::Generators.invoke("sesame:install", ["--quiet"], destination_root: #{dir.inspect})
        load File.join(#{dir.inspect}, "config/initializers/sesame.rb")
        conf = Rails.application.config.sesame
        raise "keyset not set" unless conf.keyset == ENV["SESAME_KEYSET"]
        raise "registry not set" unless conf.registry.to_s.start_with?("sqlite:///")
        print "ok"
      RUBY
      env = RailsApp::BASE_ENV.merge("APP_DB" => File.join(dir, "gen.db"))
      out = IO.popen(env, [RbConfig.ruby, "-I", lib, "-e", script], err: %i[child out], &:read)
      assert_equal "ok", out.lines.last.to_s.strip, out
      assert_includes File.read(File.join(dir, "config/initializers/sesame.rb")), "config.sesame.migrate_cookie_store_until"
    end
  end
end
