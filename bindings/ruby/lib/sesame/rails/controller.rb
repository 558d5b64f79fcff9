# frozen_string_literal: true

module Sesame
  module Rails
    # Helpers for controllers and views (included in ActionController::Base
    # by the Railtie): the signed-in user's sessions, for a "your sessions"
    # page, through the application's Sesame::Registry.
    #
    #   sesame_sessions                 # => [Sesame::Registry::Entry, ...], newest first, current? marked
    #   sesame_revoke(params[:id])      # ends one of this user's sessions (32 hex digits); true if it was live
    #   sesame_logout_others            # ends all but this one; => how many
    module ControllerHelpers
      def self.included(base)
        base.helper_method :sesame_sessions if base.respond_to?(:helper_method)
      end

      def sesame_auth
        Rails.handle(request.env) or raise Sesame::UsageError, "sesame: the Sesame::Rails middleware is not installed"
      end

      def sesame_sessions
        sesame_auth.logged_in? ? sesame_auth.sessions : []
      end

      def sesame_revoke(session_id)
        sesame_auth.revoke(session_id.to_s)
      end

      def sesame_logout_others
        sesame_auth.logout_others
      end
    end
  end
end
