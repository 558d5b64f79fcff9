# frozen_string_literal: true

class PagesController < ApplicationController
  before_action :authenticate_user!, only: %i[secret notes submit sessions revoke me]

  def home; end

  def secret
    render html: "secret of #{current_user.email}", layout: true
  end

  def notes; end

  def submit
    flash[:notice] = "saved #{params[:note]}"
    redirect_to "/notes"
  end

  def me
    response.headers["Cache-Control"] = "no-store"
    render plain: "id=#{current_user.id} sign_in_count=#{current_user.sign_in_count}"
  end

  def sessions
    @sessions = respond_to?(:sesame_sessions) ? sesame_sessions : []
  end

  def revoke
    if params[:id] == "others"
      sesame_logout_others
    else
      sesame_revoke(params[:id])
    end
    redirect_to "/sessions"
  end

  # The CDN harness's protocol (tests/e2e/run.py): /page is cached by the
  # harness's nginx whatever it says; /whoami, /form, /metrics and POSTs pass.
  # The page asks for a CSRF token, as a page with a form does (on
  # CookieStore that writes it into the session cookie a cache replays).
  def page
    form_authenticity_token
    response.headers["Cache-Control"] = "public, max-age=60"
    render plain: whoami
  end

  def whoami_text
    response.headers["Cache-Control"] = "no-store"
    render plain: whoami
  end

  # "csrf FIELD TOKEN": what a form of this browser would carry, TOKEN
  # form-encoded (none before a device: such a POST is judged by the
  # Origin rule).
  def csrf_form
    response.headers["Cache-Control"] = "no-store"
    device = !SESAME_MODE || Sesame::Rails.csrf_secret(request.env)
    token = " #{ERB::Util.url_encode(form_authenticity_token)}" if device
    render plain: "csrf #{request_forgery_protection_token}#{token}"
  end

  def note
    response.headers["Cache-Control"] = "no-store"
    render plain: "noted"
  end

  def metrics
    count = SESAME_MODE ? Sesame::Rails.detections : -1
    render plain: "sesame_detections_total #{count}\n"
  end

  def e2e_login
    id = Integer(params[:user].to_s, 10, exception: false)
    return render(plain: "bad request\n", status: 400) unless id&.positive?

    user = User.find_by(id: id) || User.create!(id: id, email: "e2e#{id}@example.test", password: "e2e-password-#{id}")
    sign_in(user)
    render plain: "user #{id}"
  end

  def e2e_logout
    sign_out
    render plain: "anonymous"
  end

  private

  def whoami
    user_signed_in? ? "user #{current_user.id}" : "anonymous"
  end
end
