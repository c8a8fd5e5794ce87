/* SPDX-License-Identifier: MIT */
/* Notification mails: the change and expiry templates compiled at start-up, rendered
 * with the variables of the seed's two tables, and queued for sending. */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "mail.h"

struct notify;

/* notify_mail_settings: fills `s` from cfg's [email] section with the default queue
 * size, timeouts and retry schedule. Pointers borrow from cfg. (It lives here, not in
 * mail, because mail is the lower layer: it knows SMTP, not the configuration.) */
void notify_mail_settings(struct mail_settings *s, const struct config *cfg);

/* notify_open: compiles the configured templates and, when email is enabled, starts
 * the mail queue (settings from cfg, or `mail` when not NULL — tests shrink retries).
 * With email disabled *out is still a valid notifier that sends nothing.
 * Returns 0, or ERR_INVAL/ERR_IO with "FILE:LINE: message" in err for a template that
 * does not compile or cannot be read (the daemon refuses to start). */
int notify_open(const struct config *cfg, const struct mail_settings *mail, struct notify **out,
		char *err, size_t errlen);

/* notify_reopen: notify_open for a reloaded configuration. When `prev` (the running
 * notifier, made from `prev_cfg`) sends mail the same way as cfg says, the new notifier
 * takes its mail queue over instead of starting another: mails waiting for a retry
 * survive the reload. `prev` keeps working (requests in flight still use it) but no
 * longer stops the queue; close it before the new one. */
int notify_reopen(const struct config *cfg, struct notify *prev, const struct config *prev_cfg,
		  struct notify **out, char *err, size_t errlen);

/* notify_abandon: undoes a notify_reopen whose result is not used (a later step of the
 * reload failed): the mail queue goes back to `prev`, then `n` is closed. */
void notify_abandon(struct notify *n, struct notify *prev);

/* notify_close: stops the queue, giving it `drain_ms` to send what is queued. NULL ok. */
void notify_close(struct notify *n, int drain_ms);

/* notify_wants_change: whether a change mail would be sent (email on, template set). */
bool notify_wants_change(const struct notify *n);

/* notify_change: queues the change mail for host `h` (its row before the update) whose
 * addresses are now `ipv4`/`ipv6` (NULL = not part of this update), to `to`.
 * Never blocks; returns 0, or the mail/template error (logged). */
int notify_change(struct notify *n, const char *to, const struct db_host *h, const char *ipv4,
		  const char *ipv6, bool v4_changed, bool v6_changed, int64_t now);

/* notify_expiry: queues the expiry mail for `h` (its row before the pass), whose
 * `families` (DB_V4|DB_V6) just expired, to `to`. */
int notify_expiry(struct notify *n, const char *to, const struct db_host *h, int families);

/* notify_format_time: a Unix time as "2026-11-25 17:50:00 UTC" (what templates see). */
void notify_format_time(int64_t t, char *buf, size_t len);

#endif
