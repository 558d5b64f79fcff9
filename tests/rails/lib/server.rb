# frozen_string_literal: true

require "net/http"
require "socket"

# The test app (tests/rails/app) under Puma on 127.0.0.1, stopped by its PID.
class AppServer
  APP_DIR = File.expand_path("../app", __dir__)
  attr_reader :port, :log, :pid

  def self.free_port
    s = TCPServer.new("127.0.0.1", 0)
    s.addr[1]
  ensure
    s&.close
  end

  def initialize(env, log:, threads: 4)
    @env = env
    @log = log
    @threads = threads
    @port = AppServer.free_port
  end

  def start
    puma = ENV.fetch("PUMA", "puma")
    @pid = Process.spawn(@env, puma, "-e", "production", "-b", "tcp://127.0.0.1:#{@port}", "-t", "#{@threads}:#{@threads}",
                         "config.ru", chdir: APP_DIR, out: [@log, "a"], err: [@log, "a"], pgroup: true)
    deadline = Time.now + 60
    loop do
      raise "puma exited; log:\n#{File.read(@log)[-3000..]}" if Process.waitpid(@pid, Process::WNOHANG)
      begin
        Net::HTTP.get_response(URI("http://127.0.0.1:#{@port}/whoami"))
        return self
      rescue SystemCallError, EOFError, Net::ReadTimeout
        raise "puma not ready after 60 s; log:\n#{File.read(@log)[-3000..]}" if Time.now > deadline

        sleep 0.1
      end
    end
  end

  def stop
    return unless @pid

    Process.kill("TERM", @pid)
    deadline = Time.now + 10
    until Process.waitpid(@pid, Process::WNOHANG)
      if Time.now > deadline
        Process.kill("KILL", @pid)
        Process.waitpid(@pid)
        break
      end
      sleep 0.05
    end
    @pid = nil
  rescue Errno::ESRCH, Errno::ECHILD
    @pid = nil
  end
end
