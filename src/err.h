/* SPDX-License-Identifier: MIT */
/* The one error enum of ddns-service: fallible functions return 0 or one of these. */
#ifndef ERR_H
#define ERR_H

enum err_code {
	ERR_OK = 0,
	ERR_NOMEM = -1,	   /* allocation failed */
	ERR_INVAL = -2,	   /* malformed input (a parser or validator said no) */
	ERR_IO = -3,	   /* a file or socket operation failed; errno may say more */
	ERR_NOTFOUND = -4, /* no such user, host, key, ... */
	ERR_EXISTS = -5,   /* unique constraint: duplicate user or host */
	ERR_BUSY = -6,	   /* refused because of dependent state (user still owns hosts) */
	ERR_DB = -7,	   /* the storage backend failed (retryable) */
	ERR_DNS = -8,	   /* the DNS server refused or failed the update */
	ERR_TIMEOUT = -9,  /* a bounded wait ran out */
	ERR_RANGE = -10,   /* a number outside its allowed range */
	ERR_TOOBIG = -11,  /* input longer than the limit that applies to it */
	ERR_CRYPTO = -12,  /* TSIG signing/verification or hashing failed */
	ERR_AUTH = -13,	   /* wrong password / bad credential */
	ERR_INTERNAL = -14 /* a bug or an impossible state */
};

/* err_str: a static English description of `code` (never NULL). */
const char *err_str(int code);

#endif
