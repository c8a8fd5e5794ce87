/* SPDX-License-Identifier: MIT */
/* Placeholder until the update-service module lands: refuses to run. */
#include "daemon.h"

#include "log.h"

int
daemon_run(const char *config_path, struct config *cfg)
{
	(void)config_path;
	(void)cfg;
	log_error("the update daemon is not part of this build yet");
	return 2;
}
