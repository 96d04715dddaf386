// What the server's codes mean, in words for people (console and app).
export const REVOKE_TEXT: Record<string, string> = {
  user_disabled: 'Your account was disabled. Ask your admin.',
  user_deleted: 'Your account was deleted.',
  credentials_changed: 'Your password was changed; sign in with the new one.',
  logged_out: 'You signed out.',
  unauthorized: 'Your session expired or was revoked; sign in again.',
  forbidden_feed: 'You no longer have the rights to read this.',
  invitation_ended: 'Your invitation has ended.',
};

export function revokeText(reason: string): string {
  return REVOKE_TEXT[reason] ?? `Your session ended (${reason}).`;
}

export const DENY_TEXT: Record<string, string> = {
  granted: 'allowed',
  user_disabled: 'your account is disabled',
  no_grant: 'you have no access to this door',
  outside_schedule: 'outside your hours',
  not_yet_valid: 'your access has not started yet',
  uses_exhausted: 'no uses left',
  expired: 'your access has ended',
  lockdown: 'the site is locked down',
};
