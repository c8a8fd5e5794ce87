/* SPDX-License-Identifier: MIT */
/* Unit tests of the notify module's pure parts: the mail settings taken from [email] and
 * the time format the templates see. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "mail.h"
#include "notify.h"
#include "tap.h"

static struct config *
parse(const char *text)
{
	struct config *cfg = NULL;
	struct config_error err;

	if (config_parse(text, strlen(text), "t.toml", &cfg, &err) != 0)
		diag("%s", err.msg);
	return cfg;
}

/* Every [email] field reaches the settings; queue size, timeouts and retries keep the
 * mail module's defaults (zero / NULL), which are not configurable. */
static void
test_mail_settings(void)
{
	struct config *cfg = parse("[database]\npath = \"/tmp/x.db\"\n"
				   "[email]\nenabled = true\nsmtp_host = \"mail.example.net\"\n"
				   "smtp_port = 587\nsmtp_starttls = true\nsmtp_user = \"bob\"\n"
				   "smtp_password = \"s3cret\"\nsmtp_ca_file = \"/etc/ca.pem\"\n"
				   "from_address = \"ddns@example.com\"\n");
	struct mail_settings s;

	ok(cfg != NULL, "settings: config parses");
	if (cfg == NULL)
		return;
	memset(&s, 0xa5, sizeof(s));
	notify_mail_settings(&s, cfg);
	is_str(s.smtp_host, "mail.example.net", "settings: smtp_host");
	is_int(s.smtp_port, 587, "settings: smtp_port");
	ok(s.smtp_starttls, "settings: smtp_starttls");
	is_str(s.smtp_user, "bob", "settings: smtp_user");
	is_str(s.smtp_password, "s3cret", "settings: smtp_password");
	is_str(s.smtp_ca_file, "/etc/ca.pem", "settings: smtp_ca_file");
	is_str(s.from_address, "ddns@example.com", "settings: from_address");
	ok(s.smtp_host == cfg->email.smtp_host, "settings: strings are borrowed from cfg");
	ok(s.queue_max == 0 && s.connect_timeout_ms == 0 && s.timeout_ms == 0,
	   "settings: queue size and timeouts are the defaults");
	ok(s.retry_delays_ms == NULL && s.retry_delays_len == 0,
	   "settings: the default retry schedule");
	config_free(cfg);
}

static void
test_mail_settings_unset(void)
{
	struct config *cfg = parse("[database]\npath = \"/tmp/x.db\"\n");
	struct mail_settings s;

	ok(cfg != NULL, "unset: config parses");
	if (cfg == NULL)
		return;
	notify_mail_settings(&s, cfg);
	ok(s.smtp_host == NULL && s.smtp_user == NULL && s.smtp_password == NULL &&
		   s.smtp_ca_file == NULL && s.from_address == NULL,
	   "unset: no strings");
	is_int(s.smtp_port, 25, "unset: the default port");
	ok(!s.smtp_starttls, "unset: no STARTTLS");
	config_free(cfg);
}

static void
test_format_time(void)
{
	char buf[64];

	notify_format_time(1764093000, buf, sizeof(buf));
	is_str(buf, "2025-11-25 17:50:00 UTC", "time: UTC with seconds");
	notify_format_time(0, buf, sizeof(buf));
	is_str(buf, "never", "time: 0 is never");
	notify_format_time(-5, buf, sizeof(buf));
	is_str(buf, "never", "time: negative is never");
}

int
main(void)
{
	test_mail_settings();
	test_mail_settings_unset();
	test_format_time();
	return tap_done();
}
