/* SPDX-License-Identifier: MIT */
/* Messages for the error codes of err.h. */
#include "err.h"

const char *
err_str(int code)
{
	switch ((enum err_code)code) {
	case ERR_OK: return "success";
	case ERR_NOMEM: return "out of memory";
	case ERR_INVAL: return "invalid input";
	case ERR_IO: return "input/output error";
	case ERR_NOTFOUND: return "not found";
	case ERR_EXISTS: return "already exists";
	case ERR_BUSY: return "in use";
	case ERR_DB: return "database error";
	case ERR_DNS: return "DNS update failed";
	case ERR_TIMEOUT: return "timed out";
	case ERR_RANGE: return "value out of range";
	case ERR_TOOBIG: return "too large";
	case ERR_CRYPTO: return "cryptographic failure";
	case ERR_AUTH: return "authentication failed";
	case ERR_INTERNAL: return "internal error";
	}
	return "unknown error";
}
