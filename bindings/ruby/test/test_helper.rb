# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "minitest/autorun"
require "minitest/mock"
require "open3"
require "base64"
require "sesame"

module SesameTestHelper
  REPO_ROOT = File.expand_path("../../..", __dir__)
  VECTORS = File.join(REPO_ROOT, "tests", "vectors", "format-v1.txt")
  INTEROP = ENV.fetch("SESAME_INTEROP", File.join(REPO_ROOT, "target", "release", "examples", "interop"))
  NOW = 1_700_000_000
  KEY = (0..31).to_a.pack("C*").freeze

  module_function

  def ring_with(id = 1, key = KEY, **opts)
    Sesame::Keyring.new(**opts).add_key(id, key)
  end

  def hex(bytes)
    bytes.unpack1("H*")
  end

  def unhex(text)
    [text].pack("H*")
  end

  # base64url without padding, as the token format uses.
  def b64decode(text)
    Base64.urlsafe_decode64(text + ("=" * ((4 - (text.size % 4)) % 4)))
  end

  def b64encode(bytes)
    Base64.urlsafe_encode64(bytes, padding: false)
  end

  # The blocks of tests/vectors/format-v1.txt as hashes of field => value.
  def vectors
    File.read(VECTORS).split(/\n\s*\n/).filter_map do |block|
      fields = block.lines.reject { |l| l.start_with?("#") }.filter_map do |line|
        key, value = line.chomp.split(": ", 2)
        next unless value || line.chomp.end_with?(":")

        [key.delete_suffix(":"), value.to_s.strip]
      end.to_h
      fields.empty? ? nil : fields
    end
  end

  def interop(*args)
    unless File.executable?(INTEROP)
      raise Minitest::Assertion, "#{INTEROP} is missing: build it with `cargo build --release --example interop` " \
                                 "(bindings/ruby/run-tests.sh does)"
    end
    out, status = Open3.capture2(INTEROP, *args.map(&:to_s))
    [out.strip, status.success?]
  end
end
