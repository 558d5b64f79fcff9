# frozen_string_literal: true

# Sesame::Rack::Session with a registry in a real Puma cluster (Debian's
# puma, 2 forked workers of one preloaded app, app.ru), driven over HTTP,
# once on SQLite and once on a redis-server this script starts:
#
# * the registry opened (and used) in the master before the fork: every
#   worker opens its own connection and never uses the master's;
# * a revocation ("log out my other sessions") made through one worker holds
#   in the other at once, in every_request and on_refresh mode;
# * logout is final across workers: a copy of the logged-out cookie is
#   refused by both;
# * several clients at once, both workers: every answer is the client's
#   own user;
# * Redis: exactly one command per request in every_request mode (INFO
#   commandstats), none for a session not due for a refresh in on_refresh mode;
# * Redis killed (SIGKILL) and restarted: requests are refused as logged out
#   (200, never an error page, the cookie kept) or, with registry_fail_open,
#   served; after the restart the same workers serve the session again.
#
#   SESAME_LIB=target/release/libsesame.so ruby bindings/ruby/test/cluster/cluster_test.rb
#
# Every process it starts is stopped by its PID.
require "net/http"
require "securerandom"
require "socket"
require "tmpdir"

HERE = __dir__
ROOT = File.expand_path("../../../..", HERE)
PUMA = ENV.fetch("PUMA", "puma")
REDIS = ENV.fetch("REDIS_SERVER", "redis-server")

$failures = 0
def check(what, ok)
  if ok
    puts "  ok   #{what}"
  else
    puts "  FAIL #{what}"
    $failures += 1
  end
end

def free_port
  s = TCPServer.new("127.0.0.1", 0)
  s.addr[1]
ensure
  s&.close
end

def wait_for(what, seconds)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
  until yield
    raise "#{what}: not within #{seconds} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

    sleep 0.05
  end
end

def port_open?(port)
  TCPSocket.new("127.0.0.1", port).close
  true
rescue SystemCallError
  false
end

# Stops a child by PID: TERM, then KILL after +grace+ seconds.
def stop_pid(pid, grace = 10)
  return unless pid

  Process.kill("TERM", pid)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + grace
  loop do
    return if Process.wait(pid, Process::WNOHANG)
    break if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

    sleep 0.05
  end
  Process.kill("KILL", pid)
  Process.wait(pid)
rescue Errno::ESRCH, Errno::ECHILD
  nil
end

# A redis-server on a free port with AOF fsynced on every write, in +dir+.
class Redis
  attr_reader :port, :pid

  def initialize(dir)
    @dir = dir
    @port = free_port
    start
  end

  def start
    @pid = Process.spawn(REDIS, "--port", @port.to_s, "--bind", "127.0.0.1", "--dir", @dir, "--save", "",
                         "--appendonly", "yes", "--appendfsync", "always", out: File::NULL)
    wait_for("redis-server", 10) { cli("PING") == "PONG" }
  end

  def kill9
    Process.kill("KILL", @pid)
    Process.wait(@pid)
    @pid = nil
  end

  def stop
    stop_pid(@pid) if @pid
    @pid = nil
  end

  def url
    "redis://127.0.0.1:#{@port}/0"
  end

  def cli(*args)
    IO.popen(["redis-cli", "-p", @port.to_s, *args], err: File::NULL, &:read).strip
  end

  # The commands clients sent while the block ran, by name (MONITOR marks
  # the calls a script makes inside the server with "[0 lua]": those are not
  # round trips and are left out).
  def client_commands
    log = File.join(@dir, "monitor-#{@port}.log")
    monitor = Process.spawn("redis-cli", "-p", @port.to_s, "MONITOR", out: log, err: File::NULL)
    wait_for("redis-cli MONITOR", 10) { File.size?(log) } # its "OK"
    yield
    sleep 0.3
    stop_pid(monitor)
    lines = File.readlines(log).grep(/\A\d+\.\d+ \[/)
    lines.reject { |l| l.match?(/\[\d+ lua\]/) }.map { |l| l[/\] "(\w+)"/, 1].downcase }.tally
  end
end

# A browser: a cookie jar.
class Client
  attr_reader :jar

  def initialize(jar = {})
    @jar = jar.dup
  end

  def copy
    Client.new(@jar)
  end

  def cookie
    @jar.map { |k, v| "#{k}=#{v}" }.join("; ")
  end

  def absorb(response)
    Array(response.get_fields("set-cookie")).each do |line|
      pair, *attributes = line.split(";").map(&:strip)
      name, value = pair.split("=", 2)
      gone = value.to_s.empty? || attributes.any? { |a| a.casecmp?("max-age=0") }
      gone ? @jar.delete(name) : @jar[name] = value
    end
  end
end

# A kept-alive connection to one worker (Puma keeps a connection on the
# worker that accepted it).
class Worker
  attr_reader :pid

  def initialize(http, pid)
    @http = http
    @pid = pid
  end

  # [status, body, response]; asserts it came from this worker.
  def request(client, method, path, mode: "every")
    req = method == :post ? Net::HTTP::Post.new(path) : Net::HTTP::Get.new(path)
    req.set_form_data({}) if method == :post
    req["cookie"] = client.cookie unless client.jar.empty?
    req["x-mode"] = mode
    req["user-agent"] = "cluster-test"
    res = @http.request(req)
    raise "answered by worker #{res["x-worker"]}, not #{@pid}" unless res["x-worker"].to_i == @pid

    client.absorb(res)
    [res.code.to_i, res.body, res]
  end

  def finish
    @http.finish if @http.started?
  end
end

# Keeps opening connections until two workers have answered; one each.
def workers(port)
  found = {}
  spare = []
  40.times do
    http = Net::HTTP.new("127.0.0.1", port)
    http.keep_alive_timeout = 60
    http.read_timeout = 10
    http.start
    pid = http.get("/me")["x-worker"].to_i
    if found[pid]
      spare << http
    else
      found[pid] = Worker.new(http, pid)
    end
    break if found.size == 2
  end
  spare.each(&:finish)
  raise "only #{found.size} worker(s) answered" unless found.size == 2

  found.values
end

def login(worker, user, mode: "every")
  client = Client.new
  status, body, = worker.request(client, :post, "/login?user=#{user}", mode: mode)
  raise "login: #{status} #{body}" unless status == 200 && !client.jar.empty?

  client
end

def me(worker, client, mode: "every")
  status, body, = worker.request(client, :get, "/me", mode: mode)
  status == 200 ? body : "status #{status}"
end

def fds(pid, db)
  Dir.glob("/proc/#{pid}/fd/*").count { |fd| (File.readlink(fd) rescue nil) == db }
end

def run_cluster(name, url, dir, redis: nil)
  puts "== #{name}: #{url.sub(/\?.*/, "")}"
  port = free_port
  env = { "PORT" => port.to_s, "SESAME_REGISTRY_URL" => url, "SESAME_TEST_KEY" => SecureRandom.hex(32) }
  log = File.join(dir, "puma-#{name}.log")
  master = Process.spawn(env, PUMA, "-C", File.join(HERE, "puma.rb"), chdir: dir, out: log, err: log)
  begin
    wait_for("puma on #{port}", 60) { port_open?(port) }
    a, b = workers(port)
    check("two workers answer (#{a.pid}, #{b.pid}), master #{master}", a.pid != b.pid && a.pid != master)

    # Fork: each worker's own connection.
    alice1 = login(a, 7)
    alice2 = login(b, 7)
    check("a login through each worker", me(a, alice1) == "user 7" && me(b, alice2) == "user 7" &&
                                         me(b, alice1) == "user 7" && me(a, alice2) == "user 7")
    if redis
      clients = redis.cli("CLIENT", "LIST").lines.count - 1 # less redis-cli's own
      check("redis: #{clients} connections (the master's and one per worker), none shared", clients == 3)
    else
      db = url[%r{\Asqlite://([^?]+)}, 1]
      counts = [master, a.pid, b.pid].map { |pid| fds(pid, db) }
      check("sqlite: descriptors of the file in master/workers #{counts} (a worker's inherited one is " \
            "never used; it opened its own)", counts == [1, 2, 2])
    end

    # A revocation through one worker holds in the other at once.
    status, body, = b.request(alice2, :post, "/logout_others")
    check("logout_others through worker B ended #{body}", status == 200 && body == "ended 1")
    check("  worker A refuses the revoked session (every_request)", me(a, alice1) == "anonymous")
    check("  the kept session still works in both", me(a, alice2) == "user 7" && me(b, alice2) == "user 7")
    bob1 = login(a, 8, mode: "refresh")
    bob2 = login(b, 8, mode: "refresh")
    check("on_refresh (refreshing every request): both sessions live",
          me(a, bob1, mode: "refresh") == "user 8" && me(b, bob2, mode: "refresh") == "user 8")
    a.request(bob2, :post, "/logout_others", mode: "refresh")
    check("  logout_others through A holds in B at its refresh", me(b, bob1, mode: "refresh") == "anonymous")
    check("  the kept session refreshes in B", me(b, bob2, mode: "refresh") == "user 8")

    # Logout is final across workers.
    carol = login(a, 9)
    stolen = carol.copy
    status, = b.request(carol, :post, "/logout")
    check("logout through B", status == 200 && me(b, carol) == "anonymous")
    check("  a copy of the logged-out cookie is refused by A and B (every_request)",
          me(a, stolen.copy) == "anonymous" && me(b, stolen.copy) == "anonymous")
    check("  and by both at its refresh (on_refresh)",
          me(a, stolen.copy, mode: "refresh") == "anonymous" && me(b, stolen.copy, mode: "refresh") == "anonymous")

    # Clients at once on both workers, new connections: each its own user.
    wrong = Queue.new
    threads = Array.new(4) do |i|
      Thread.new do
        user = 100 + i
        client = Client.new
        Net::HTTP.start("127.0.0.1", port) do |http|
          w = Worker.new(http, http.get("/me")["x-worker"].to_i)
          w.request(client, :post, "/login?user=#{user}")
        end
        20.times do |n|
          mode = n.even? ? "every" : "refresh"
          Net::HTTP.start("127.0.0.1", port) do |http|
            req = Net::HTTP::Get.new("/me")
            req["cookie"] = client.cookie
            req["x-mode"] = mode
            res = http.request(req)
            client.absorb(res)
            wrong << "#{user} got #{res.code} #{res.body}" unless res.code == "200" && res.body == "user #{user}"
          end
        end
      end
    end
    threads.each(&:join)
    errors = Array.new(wrong.size) { wrong.pop }
    check("4 clients x 20 requests on new connections: every answer the client's own user #{errors.first(3)}",
          errors.empty?)

    if redis
      dave = login(a, 10)
      me(a, dave)
      me(b, dave) # first sight of the token written: from here on a check only reads
      n = 50
      sent = redis.client_commands { n.times { |i| me(i.even? ? a : b, dave) } }
      check("redis every_request: #{n} requests through both workers, commands sent #{sent}", sent == { "evalsha" => n })
      erin = login(a, 11, mode: "lazy")
      sent = redis.client_commands { n.times { |i| me(i.even? ? a : b, erin, mode: "lazy") } }
      check("redis on_refresh, no refresh due: #{n} requests, commands sent #{sent}", sent.empty?)
      sent = redis.client_commands { n.times { |i| me(i.even? ? a : b, erin, mode: "refresh") } }
      check("redis on_refresh, a refresh due on every request: #{n} requests, commands sent #{sent}",
            sent == { "evalsha" => n })

      # Redis down: fail closed (default) and open (configured).
      redis.kill9
      results = [a, b].flat_map do |w|
        [me(w, dave), me(w, dave, mode: "open"), me(w, dave, mode: "refresh")]
      end
      check("redis killed: refused as logged out (200), fail open serves, on both workers #{results}",
            results == ["anonymous", "user 10", "anonymous"] * 2)
      jar = dave.jar.dup
      status, = a.request(dave, :post, "/logout_others")
      check("  a POST while down is refused without deleting the cookie (#{status})", dave.jar == jar)
      redis.start
      check("redis restarted: the same workers serve the session again, no app restart",
            me(a, dave) == "user 10" && me(b, dave) == "user 10")
    end
  ensure
    [a, b].compact.each(&:finish)
    stop_pid(master, 20)
  end
  log_text = File.read(log)
  check("no exception (backtrace) in the Puma log", !log_text.match?(/\.rb:\d+:in /))
end

Dir.mktmpdir("sesame-cluster") do |dir|
  run_cluster("sqlite", "sqlite://#{dir}/registry.db", dir)
  redis = Redis.new(dir)
  begin
    run_cluster("redis", "#{redis.url}?timeout_ms=1000", dir, redis: redis)
  ensure
    redis.stop
  end
end
if $failures.zero?
  puts "== the Puma cluster test passed"
else
  puts "== #{$failures} check(s) failed"
  exit 1
end
