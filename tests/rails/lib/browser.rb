# frozen_string_literal: true

require "net/http"
require "uri"
require "cgi"

# A browser for the tests: one cookie jar (RFC 6265bis as browsers apply
# it to http://127.0.0.1: Secure and __Host- cookies kept, Max-Age over
# Expires, Max-Age <= 0 deletes), Origin and Sec-Fetch-Site on non-GET
# requests as browsers send them, redirects followed for GET, and #restart
# (session cookies are dropped, as when a browser is closed).
class Browser
  Cookie = Struct.new(:name, :value, :expires_at) # expires_at: nil for a session cookie

  attr_reader :jar, :last, :name
  attr_accessor :clock_offset

  def initialize(port, name = "browser")
    @port = port
    @name = name
    @jar = {}
    @clock_offset = 0
  end

  def base
    "http://127.0.0.1:#{@port}"
  end

  def cookie_header
    purge
    @jar.values.map { |c| "#{c.name}=#{c.value}" }.join("; ")
  end

  def cookie(name)
    purge
    @jar[name]&.value
  end

  def names
    purge
    @jar.keys
  end

  # Closes and reopens the browser: cookies without Max-Age/Expires go.
  def restart
    @jar.delete_if { |_, c| c.expires_at.nil? }
  end

  # A copy of this browser's jar (the same cookies, another browser).
  def clone_as(name)
    other = Browser.new(@port, name)
    @jar.each { |k, c| other.jar[k] = c.dup }
    other
  end

  def get(path, follow: true, headers: {})
    res = request(Net::HTTP::Get.new(path), headers)
    5.times do
      break unless follow && %w[301 302 303].include?(res.code)

      res = request(Net::HTTP::Get.new(URI(res["location"]).request_uri), {})
    end
    res
  end

  # A form submission: +params+ as application/x-www-form-urlencoded;
  # +origin+: nil for this site, false for none, or another origin.
  # (Options as a plain Hash: a braceless params Hash of String keys would
  # otherwise be taken for keywords.)
  def post(path, params = {}, opts = {})
    origin = opts[:origin]
    follow = opts.fetch(:follow, true)
    headers = opts.fetch(:headers, {})
    req = Net::HTTP::Post.new(path)
    req.set_form_data(params)
    if origin != false
      headers = { "Origin" => origin || base, "Sec-Fetch-Site" => origin ? "cross-site" : "same-origin" }.merge(headers)
    end
    res = request(req, headers)
    follow && %w[301 302 303].include?(res.code) ? get(URI(res["location"]).request_uri) : res
  end

  # The authenticity token of the page's form (or its csrf meta tag); empty
  # on a page rendered for a browser without a device yet.
  def self.token(body)
    body[/name="authenticity_token" value="([^"]*)"/, 1] || body[/<meta name="csrf-token" content="([^"]*)"/, 1] or
      raise "no authenticity token in #{body[0, 300]}"
  end

  # Set-Cookie lines of a response.
  def self.set_cookies(res)
    Array(res.get_fields("set-cookie"))
  end

  # Stores one Set-Cookie line (also used to replay another response's).
  def store(line)
    pair, *attrs = line.split(";").map(&:strip)
    name, value = pair.split("=", 2)
    opts = attrs.to_h { |a| k, v = a.split("=", 2); [k.downcase, v] }
    expires_at = if opts["max-age"]
                   now + opts["max-age"].to_i
                 elsif opts["expires"]
                   Time.httpdate(opts["expires"]).to_i rescue nil
                 end
    if expires_at && expires_at <= now
      @jar.delete(name)
    else
      @jar[name] = Cookie.new(name, value.to_s, expires_at)
    end
  end

  private

  def now
    Time.now.to_i + @clock_offset
  end

  def purge
    @jar.delete_if { |_, c| c.expires_at && c.expires_at <= now }
  end

  def request(req, headers)
    req["User-Agent"] = "sesame-rails-test #{@name}"
    req["Cookie"] = cookie_header unless cookie_header.empty?
    headers.each { |k, v| req[k] = v }
    res = Net::HTTP.start("127.0.0.1", @port, open_timeout: 5, read_timeout: 30) { |h| h.request(req) }
    Browser.set_cookies(res).each { |line| store(line) }
    @last = res
  end
end
