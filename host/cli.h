/* cli.h — the `dhis2sync` command line beyond wiring: what each command says for --help
 * (cli_help.c) and `dhis2sync status` (cli_status.c). main.c parses and dispatches. */
#ifndef DHIS2SYNC_CLI_H
#define DHIS2SYNC_CLI_H

#include <stdbool.h>
#include <stdio.h>

struct app;

/* The overview of every command. */
void cli_usage(FILE *out);
/* Whether command (argv[1]) is one of ours. */
bool cli_known(const char *command);
/* Writes command's usage, options and the environment it reads; -1 if there is no such
 * command. */
int cli_help(const char *command, FILE *out);

/* `dhis2sync status [--json]` (argv without the command): jobs, the scheduler leader, the
 * processes connected and the runs queued or running. 0, 1 when the database cannot be
 * reached, 2 on a bad argument. */
int cli_status(struct app *app, int argc, char **argv);

#endif
