//! The validation policy that `open` applies after authentication.

use crate::{Claims, Error, SessionKind};

/// How long sessions live and which ones are no longer honoured.
///
/// The caller passes `now` to every check (a `no_std` core has no clock).
/// All times are unix seconds; all durations are seconds. A session is valid
/// while `now < limit` and expired from the limit's second on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Reject when `now >= refreshed_at + idle_timeout`. `None`: no idle limit.
    pub idle_timeout: Option<u64>,
    /// Reject when `now >= issued_at + absolute_lifetime`, however often the
    /// token was refreshed, so a stolen token cannot be kept alive forever.
    /// A per-token lifetime can shorten this, never lengthen it.
    pub absolute_lifetime: Option<u64>,
    /// Accept timestamps up to this far ahead of `now` (clock skew between servers).
    pub future_leeway: u64,
    /// Reject sessions issued strictly before this time: "log everyone out"
    /// without a key change. 0 revokes nothing.
    pub revoked_before: u64,
    /// [`Policy::should_refresh`] says yes once a token is this old.
    pub refresh_after: u64,
    /// `idle_timeout` for [`SessionKind::RememberMe`] tokens. `None` (the
    /// default): a remembered login has no idle limit, as users of "remember
    /// me" expect (Devise skips its timeout for remembered users too).
    pub remember_me_idle_timeout: Option<u64>,
    /// `absolute_lifetime` for [`SessionKind::RememberMe`] tokens: how long
    /// "remember me" may last at most, independent of the browser sessions'
    /// lifetime. A remember-me token's own lifetime can shorten it.
    pub remember_me_absolute_lifetime: Option<u64>,
}

impl Policy {
    /// Browser sessions: idle timeout 24 h, absolute lifetime 14 days.
    /// Remember-me: no idle timeout, absolute lifetime 30 days. 60 s leeway,
    /// refresh every 15 min.
    pub const DEFAULT: Policy = Policy {
        idle_timeout: Some(24 * 60 * 60),
        absolute_lifetime: Some(14 * 24 * 60 * 60),
        future_leeway: 60,
        revoked_before: 0,
        refresh_after: 15 * 60,
        remember_me_idle_timeout: None,
        remember_me_absolute_lifetime: Some(30 * 24 * 60 * 60),
    };

    /// The idle timeout and absolute lifetime that apply to `kind`.
    #[inline]
    pub fn limits(&self, kind: SessionKind) -> (Option<u64>, Option<u64>) {
        match kind {
            SessionKind::Browser => (self.idle_timeout, self.absolute_lifetime),
            SessionKind::RememberMe => (
                self.remember_me_idle_timeout,
                self.remember_me_absolute_lifetime,
            ),
        }
    }

    /// The absolute lifetime a session of `kind` with the token's own
    /// `lifetime` has, from its login: the smaller of the two among those
    /// present; `None` when neither is.
    #[inline]
    pub fn lifetime(&self, kind: SessionKind, token_lifetime: Option<u64>) -> Option<u64> {
        match (self.limits(kind).1, token_lifetime) {
            (Some(policy), Some(token)) => Some(policy.min(token)),
            (policy, token) => policy.or(token),
        }
    }

    /// Checks opened claims at time `now` under the limits of their kind.
    /// The order is fixed so a token that breaks several rules always
    /// reports the same one: future, revoked, lifetime, idle.
    #[inline]
    pub fn check(&self, claims: &Claims, now: u64) -> Result<(), Error> {
        let horizon = now.saturating_add(self.future_leeway);
        if claims.issued_at > horizon || claims.refreshed_at > horizon {
            return Err(Error::IssuedInFuture);
        }
        claims.check_revoked_before(self.revoked_before)?;
        let idle_timeout = self.limits(claims.kind).0;
        let lifetime = self.lifetime(claims.kind, claims.lifetime);
        if let Some(lifetime) = lifetime {
            if now >= claims.issued_at.saturating_add(lifetime) {
                return Err(Error::LifetimeExpired);
            }
        }
        if let Some(idle) = idle_timeout {
            if now >= claims.refreshed_at.saturating_add(idle) {
                return Err(Error::IdleExpired);
            }
        }
        Ok(())
    }

    /// Whether a valid token is old enough to be refreshed (re-sealed with
    /// `refreshed_at = now`), so a middleware does not re-issue on every request.
    pub fn should_refresh(&self, claims: &Claims, now: u64) -> bool {
        now >= claims.refreshed_at.saturating_add(self.refresh_after)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::DEFAULT
    }
}
