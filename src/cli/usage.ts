export const USAGE = `Usage:
  dispatch serve                         run the daemon (HTTP on BACKEND_PORT, default 24203)
  dispatch models [--json]               list the model catalog
  dispatch list [QUERY] [--status S] [--all] [--workspace W] [--json]
                                         conversations, newest first (S: active,idle,closed;
                                         --all includes closed; QUERY matches titles and id prefixes)
  dispatch read ID [--json]              wait for the turn to settle, print the last assistant message
  dispatch stop ID [--json]              abort the running turn
  dispatch compact ID [--json]           compact the conversation's history
  dispatch open ID [--json]              ask the web frontend to open the conversation's tab
  dispatch send ID --text "..." [--file F] [--queue] [--open] [--cwd DIR] [--effort E]
                [--workspace W] [--show-reasoning]
                                         send a message to an existing conversation and print the reply;
                                         --queue enqueues it without waiting (delivered into a running
                                         turn, or starts one), --open asks the frontend to show it
  dispatch MODEL --text "..." [--file F] [--cwd DIR] [--conversation ID] [--effort E]
                 [--workspace W] [--show-reasoning] [--open]
                                         one turn; MODEL is a line of \`dispatch models\`
                                         (<credential>/<model>); the conversation id is printed last
  dispatch setup [--env-file F] [--no-input]
                                         write the daemon's env file (default /etc/dispatch/env, mode 0600),
                                         asking for the provider URL, API key and model on stdin
                                         (--no-input: the defaults, no key, an existing file kept)
  dispatch sync-env [--from F] [--env-file F]
                                         copy provider URLs, models and keys from F (default ./.env) into
                                         the daemon's env file; never a port or a path
  dispatch trace [TURN-ID | exchange SPAN-ID] [--limit N] [--json]
                                         recent turns, one turn's spans, a provider call (the trace store)
  dispatch extensions [--json]           the daemon's extensions, their permissions and state
  dispatch extensions check DIR [--config FILE]
                                         validate an extension folder before installing it
  dispatch --version                     Dispatch's and Deno's versions
  dispatch --help

ID is a conversation id or a unique prefix of one. Every client command takes --server URL (default
http://$DISPATCH_HOST:$BACKEND_PORT) and sends DISPATCH_TOKEN as a bearer token when it is set; like the
daemon, it reads these from the environment and then from the env file (DISPATCH_ENV_FILE, else ./.env).
Effort levels: low, medium, high (default), xhigh, max`;
