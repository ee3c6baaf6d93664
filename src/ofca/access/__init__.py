"""Access: principals from keys and logins, login sessions, rate limits, revocation."""
