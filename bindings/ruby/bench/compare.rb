# frozen_string_literal: true

# sesame seal/open against Rails' ActiveSupport::MessageEncryptor
# (aes-256-gcm), on the same session: user 123456, a 16-byte session ID and
# its timestamps.
#
#   ruby -Ilib bench/compare.rb          (from bindings/ruby; or bash run-bench.sh)
#   BENCH_TIME=2 BENCH_WARMUP=1 ruby -Ilib bench/compare.rb    (quicker)
#
# Needs the Debian packages ruby-activesupport and ruby-benchmark-ips.
#
# "plain" is MessageEncryptor's own API with its default serializer (Marshal):
#   encrypt_and_sign(payload) / decrypt_and_verify(message)
# "cookie jar" is how Rails 6.1's encrypted cookie jar (and so CookieStore,
# the default session store) calls it: a NullSerializer encryptor, the
# session Hash serialized by the jar (ActiveSupport::JSON, the default
# cookies_serializer since Rails 4.1; Marshal in older apps), and metadata:
#   encrypt_and_sign(JSON.encode(session), purpose: "cookie.session", expires_in: 14 days)
#   JSON.decode(decrypt_and_verify(value, purpose: "cookie.session"))
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sesame"
require "securerandom"
require "rack/utils"
require "benchmark/ips"
require "active_support"
require "active_support/core_ext/numeric/time"
require "active_support/core_ext/time"
require "active_support/message_encryptor"
require "active_support/json"

USER_ID = 123_456
BENCH_TIME = Float(ENV.fetch("BENCH_TIME", "5"))
BENCH_WARMUP = Float(ENV.fetch("BENCH_WARMUP", "2"))

key = SecureRandom.random_bytes(32)

# --- sesame -------------------------------------------------------------------
ring = Sesame::Keyring.new.add_key(1, key)
policy = Sesame::Policy.default
token = ring.seal(user_id: USER_ID)
raise "sesame round trip" unless ring.open(token, policy: policy).user_id == USER_ID

# --- ActiveSupport::MessageEncryptor ---------------------------------------------
now = Time.now.to_i
session_hash = { "user_id" => USER_ID, "session_id" => SecureRandom.hex(16), "issued_at" => now, "refreshed_at" => now }
plain = ActiveSupport::MessageEncryptor.new(key, cipher: "aes-256-gcm")
plain_message = plain.encrypt_and_sign(session_hash)
raise "plain round trip" unless plain.decrypt_and_verify(plain_message) == session_hash

jar = ActiveSupport::MessageEncryptor.new(key, cipher: "aes-256-gcm",
                                               serializer: ActiveSupport::MessageEncryptor::NullSerializer)
PURPOSE = "cookie.session"
EXPIRES_IN = 14.days
jar_seal = -> { jar.encrypt_and_sign(ActiveSupport::JSON.encode(session_hash), purpose: PURPOSE, expires_in: EXPIRES_IN) }
jar_open = ->(v) { ActiveSupport::JSON.decode(jar.decrypt_and_verify(v, purpose: PURPOSE)) }
jar_message = jar_seal.call
raise "jar round trip" unless jar_open.call(jar_message) == session_hash
jar_marshal_seal = -> { jar.encrypt_and_sign(Marshal.dump(session_hash), purpose: PURPOSE, expires_in: EXPIRES_IN) }
jar_marshal_open = ->(v) { Marshal.load(jar.decrypt_and_verify(v, purpose: PURPOSE)) } # rubocop:disable Security/MarshalLoad
jar_marshal_message = jar_marshal_seal.call

CASES = [
  # label, block, token (for its length), group
  ["sesame seal", -> { ring.seal(user_id: USER_ID) }, token, :sesame_seal],
  ["sesame open", -> { ring.open(token, policy: policy) }, token, :sesame_open],
  ["MessageEncryptor plain seal", -> { plain.encrypt_and_sign(session_hash) }, plain_message, :plain_seal],
  ["MessageEncryptor plain open", -> { plain.decrypt_and_verify(plain_message) }, plain_message, :plain_open],
  ["cookie jar (JSON) seal", jar_seal, jar_message, :jar_seal],
  ["cookie jar (JSON) open", -> { jar_open.call(jar_message) }, jar_message, :jar_open],
  ["cookie jar (Marshal) seal", jar_marshal_seal, jar_marshal_message, :jar_marshal_seal],
  ["cookie jar (Marshal) open", -> { jar_marshal_open.call(jar_marshal_message) }, jar_marshal_message, :jar_marshal_open]
].freeze

def allocations_per_call(block, n = 2000)
  block.call
  GC.disable
  before = GC.stat(:total_allocated_objects)
  n.times { block.call }
  (GC.stat(:total_allocated_objects) - before) / n.to_f
ensure
  GC.enable
end

allocations = CASES.to_h { |label, block, _, _| [label, allocations_per_call(block)] }

report = Benchmark.ips do |x|
  x.config(time: BENCH_TIME, warmup: BENCH_WARMUP)
  CASES.each { |label, block, _, _| x.report(label, &block) }
end

us = {}
err = {}
report.entries.each do |e|
  us[e.label] = 1e6 / e.stats.central_tendency
  err[e.label] = 100.0 * e.stats.error / e.stats.central_tendency
end

# benchmark-ips measures one case after the other, so a change in machine
# load between cases skews the ratios. Second opinion, robust to that: many
# short rounds, each running every case in turn for ~10 ms; the median
# per-op time of each case over the rounds.
ROUNDS = Integer(ENV.fetch("BENCH_ROUNDS", "40"))
clock = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
samples = Hash.new { |h, k| h[k] = [] }
ROUNDS.times do
  CASES.each do |label, block, _, _|
    n = [(10_000.0 / us[label]).ceil, 1].max
    t0 = clock.call
    i = 0
    while i < n
      block.call
      i += 1
    end
    samples[label] << (clock.call - t0) * 1e6 / n
  end
end
median = samples.transform_values { |v| v.sort[v.size / 2] }
fastest = samples.transform_values(&:min) # the least disturbed round: closest to the intrinsic cost

puts
puts "Ruby #{RUBY_VERSION}, ffi #{FFI::VERSION}, ActiveSupport #{ActiveSupport.version}, " \
     "libsesame #{Sesame.library_version}, #{`nproc`.strip} CPUs, load average #{File.read("/proc/loadavg").split.first(3).join(" ")}"
puts
puts "| operation | µs/op (ips) | ± | µs/op interleaved median | µs/op interleaved min | allocations/op | token chars | as cookie value (Rack-escaped) |"
puts "|---|---:|---:|---:|---:|---:|---:|---:|"
CASES.each do |label, _, tok, _|
  printf("| %s | %.2f | %.0f%% | %.2f | %.2f | %.1f | %d | %d |\n", label, us[label], err[label], median[label],
         fastest[label], allocations[label], tok.size, Rack::Utils.escape(tok).size)
end

ips = CASES.to_h { |label, _, _, key| [key, us[label]] }
med = CASES.to_h { |label, _, _, key| [key, median[label]] }
low = CASES.to_h { |label, _, _, key| [key, fastest[label]] }
puts
puts format("%-55s %8s %8s %8s", "goal (ratio of µs/op)", "ips", "median", "min")
[
  ["seal: sesame >= 5x faster than plain", :plain_seal, :sesame_seal, 5],
  ["open: sesame >= 5x faster than plain", :plain_open, :sesame_open, 5],
  ["seal: sesame >= 10x faster than cookie jar (JSON)", :jar_seal, :sesame_seal, 10],
  ["open: sesame >= 10x faster than cookie jar (JSON)", :jar_open, :sesame_open, 10],
  ["seal: sesame >= 10x faster than cookie jar (Marshal)", :jar_marshal_seal, :sesame_seal, 10],
  ["open: sesame >= 10x faster than cookie jar (Marshal)", :jar_marshal_open, :sesame_open, 10]
].each do |text, theirs, ours, want|
  ratios = [ips, med, low].map { |table| table[theirs] / table[ours] }
  verdict = if ratios.all? { |r| r >= want } then "met"
            elsif ratios.any? { |r| r >= want } then "met by some measures only"
            else "MISSED"
            end
  printf("%-55s %7.1fx %7.1fx %7.1fx  %s\n", text, *ratios, verdict)
end
printf("%-55s %8d %17s  %s\n", "token < 100 chars", token.size, "", token.size < 100 ? "met" : "MISSED")
