# frozen_string_literal: true

# Requests per second of the same Rails action, a signed-in Devise user's
# page (GET /secret of tests/rails/app: authenticate_user!, current_user,
# a layout with the CSRF meta tag and the flash), on Rails' CookieStore
# (Rails 6.1 + Devise 4.8 as they come) and on sesame (the Railtie), in one
# run: each variant is its own process (one Rails application per
# process), and the parent interleaves their rounds so a changing machine
# load hits them alike. Each round is REQUESTS calls of the full middleware
# stack through Rack::MockRequest (no server, no network).
#
#   ruby bench/rails_devise.rb                 (from bindings/ruby, after make -C bindings/c lib)
#   ROUNDS=7 REQUESTS=2000 ruby bench/rails_devise.rb
#
# Variants: cookie (CookieStore + Devise), sesame (+ a SQLite session
# registry checked on every request: the Railtie's default), sesame without
# a registry (stateless tokens). The table gives the best and the median
# round; "added" is the median minus CookieStore's.
require "json"
require "tmpdir"
require "securerandom"

ROUNDS = Integer(ENV.fetch("ROUNDS", "5"), 10)
REQUESTS = Integer(ENV.fetch("REQUESTS", "1000"), 10)
APP = File.expand_path("../../../tests/rails/app/app.rb", __dir__)

# ---- child: one variant
if ARGV.first == "--child"
  require APP
  require "rack/mock"
  app = Rails.application
  jar = {}
  call = lambda do |method, path, params = nil|
    env = { "HTTP_HOST" => "127.0.0.1", "HTTP_COOKIE" => jar.map { |k, v| "#{k}=#{v}" }.join("; "),
            "HTTP_ORIGIN" => "http://127.0.0.1", "HTTP_SEC_FETCH_SITE" => "same-origin" }
    env[:params] = params if params
    res = Rack::MockRequest.new(app).request(method, "http://127.0.0.1#{path}", env)
    Array(res.headers["Set-Cookie"]).flat_map { |v| v.split("\n") }.each do |line|
      name, value = line.split(";").first.split("=", 2)
      line.include?("max-age=0") || line.include?("Max-Age=0") ? jar.delete(name) : jar[name] = value
    end
    res
  end
  email = "bench-#{SecureRandom.hex(4)}@example.test"
  page = call.("GET", "/users/sign_up")
  token = page.body[/name="authenticity_token" value="([^"]*)"/, 1]
  call.("POST", "/users", "authenticity_token" => token, "user[email]" => email, "user[password]" => "password123",
                          "user[password_confirmation]" => "password123")
  check = call.("GET", "/secret")
  raise "#{ENV["APP_MODE"]}: not signed in (#{check.status})" unless check.body.include?("secret of #{email}")

  cookie = jar.map { |k, v| "#{k}=#{v}" }.join("; ")
  env = Rack::MockRequest.env_for("http://127.0.0.1/secret", "HTTP_HOST" => "127.0.0.1", "HTTP_COOKIE" => cookie)
  run = lambda do |n|
    t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    n.times do
      status, _headers, body = app.call(env.dup.merge("rack.input" => StringIO.new("")))
      body.close if body.respond_to?(:close)
      raise "status #{status}" unless status == 200
    end
    (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t) / n
  end
  # In the sesame variants, also the time spent in sesame's own layers
  # (excluding what they wrap): the middleware (begin, finish, registry)
  # and the session guard (Rails' session stamp and screen).
  own = Hash.new(0.0)
  if defined?(Sesame::Rails)
    clock = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
    wrap = lambda do |layer, inner_ivar, name|
      inner = layer.instance_variable_get(inner_ivar)
      layer.instance_variable_set(inner_ivar, lambda do |e|
        t = clock.()
        r = inner.call(e)
        own[name] -= clock.() - t
        r
      end)
      layer.singleton_class.prepend(Module.new do
        define_method(:call) do |e|
          t = clock.()
          r = super(e)
          own[name] += clock.() - t
          r
        end
      end)
    end
    wrap.(Sesame::Rails.middleware, :@app, :middleware)
    layer = app.app
    layer = layer.instance_variable_get(:@app) until layer.is_a?(Sesame::Rails::SessionGuard) || layer.nil?
    raise "Sesame::Rails::SessionGuard not found in the built stack" unless layer

    wrap.(layer, :@app, :guard)
  end
  run.(200) # warm-up
  $stdout.sync = true
  puts "ready"
  # The guard's share apart from Rails' own session load: the cookie and
  # session layers with an app that only reads the session, with and
  # without the guard in between (inside the sesame middleware both).
  guard_apart = lambda do |n|
    read = lambda do |e|
      r = ActionDispatch::Request.new(e)
      r.session["x"]
      r.session_options[:skip] = true
      [200, {}, []]
    end
    key = app.config.session_options[:key]
    layers = { "session load alone" => read, "session load + SessionGuard" => Sesame::Rails::SessionGuard.new(read) }
    layers.transform_values do |inner|
      stack = Sesame::Rack::Session.new(ActionDispatch::Cookies.new(ActionDispatch::Session::CookieStore.new(inner, key: key)),
                                        keyring: Sesame::Rails.middleware.keyring, policy: Sesame::Rails.middleware.policy)
      envs = Array.new(n) { app.env_config.merge(env).merge("rack.input" => StringIO.new("")) }
      t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      envs.each { |e| stack.call(e) }
      (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t) / n
    end
  end
  while (line = $stdin.gets)
    if line.start_with?("apart")
      puts JSON.generate(guard_apart.(Integer(line.split.last, 10)))
      next
    end
    n = Integer(line, 10)
    own.clear
    per = run.(n)
    puts JSON.generate([per, own.transform_values { |v| v / n }])
  end
  exit 0
end

# ---- parent
work = Dir.mktmpdir("sesame-rails-bench-")
keyset = ENV["SESAME_KEYSET"] || begin
  $LOAD_PATH.unshift File.expand_path("../lib", __dir__)
  require "sesame"
  key = [Sesame::Keyring.generate_key].pack("m0").tr("+/", "-_").delete("=")
  "sesame-keyset/1;key id=1 status=primary created=#{Time.now.to_i} raw=#{key}"
end
base = { "APP_DB" => File.join(work, "app.db"), "SECRET_KEY_BASE" => SecureRandom.hex(32), "SESAME_KEYSET" => keyset,
         "APP_LOG_LEVEL" => "error" }
variants = {
  "CookieStore + Devise" => base.merge("APP_MODE" => "cookie"),
  "sesame + Devise, SQLite registry (every request)" => base.merge("SESAME_REGISTRY" => "sqlite://#{work}/sessions.db"),
  "sesame + Devise, no registry" => base.merge("SESAME_REGISTRY" => "")
}
children = variants.to_h do |name, env|
  io = IO.popen(env, [RbConfig.ruby, __FILE__, "--child"], "r+")
  ready = io.gets
  raise "#{name}: child failed to start" unless ready&.strip == "ready"

  [name, io]
end
times = Hash.new { |h, k| h[k] = [] }
owns = Hash.new { |h, k| h[k] = [] }
begin
  ROUNDS.times do |round|
    order = round.even? ? children.keys : children.keys.reverse
    order.each do |name|
      io = children[name]
      io.puts REQUESTS
      per, own = JSON.parse(io.gets)
      times[name] << per
      own.each { |k, v| owns[[name, k]] << v }
    end
  end
  apart_child = children["sesame + Devise, no registry"]
  apart = Hash.new { |h, k| h[k] = [] }
  ROUNDS.times do
    apart_child.puts "apart #{REQUESTS}"
    JSON.parse(apart_child.gets).each { |k, v| apart[k] << v }
  end
ensure
  children.each_value(&:close)
  FileUtils.rm_rf(work)
end

median = ->(a) { a.sort[a.size / 2] }
base_median = median.(times["CookieStore + Devise"])
puts "Rails #{`ruby -rrails -e 'print Rails.version'`}, Ruby #{RUBY_VERSION}, #{ROUNDS} interleaved rounds of #{REQUESTS} " \
     "GET /secret (signed in), nproc #{`nproc`.strip}, load #{File.read("/proc/loadavg").split.first(3).join(" ")}"
puts
puts "| variant | req/s (median) | µs/request best | µs/request median | added over CookieStore (median) |"
puts "|---|---:|---:|---:|---:|"
times.each do |name, t|
  m = median.(t)
  added = name.start_with?("CookieStore") ? "-" : format("%+.0f µs", (m - base_median) * 1e6)
  puts format("| %s | %.0f | %.0f | %.0f | %s |", name, 1 / m, t.min * 1e6, m * 1e6, added)
end
puts
puts "Time inside sesame's own layers (what they wrap excluded), µs/request:"
puts
puts "| variant | layer | best | median |"
puts "|---|---|---:|---:|"
owns.each do |(name, layer), t|
  what = layer == "middleware" ? "Sesame::Rack::Session (begin, finish, registry)" : "SessionGuard (Rails' session)"
  puts format("| %s | %s | %.0f | %.0f |", name, what, t.min * 1e6, median.(t) * 1e6)
end
puts
puts "Rails' session load alone and with the guard (sesame middleware around both, no app), µs/request:"
puts
puts "| layers | best | median |"
puts "|---|---:|---:|"
apart.each { |name, t| puts format("| %s | %.0f | %.0f |", name, t.min * 1e6, median.(t) * 1e6) }
