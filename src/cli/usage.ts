export const USAGE = `Usage:
  dispatch serve                         run the daemon (HTTP on BACKEND_PORT, default 24203)
  dispatch models [--json]               list the model catalog
  dispatch list [QUERY] [--status S] [--all] [--json]
                                         conversations (S: active,idle,closed; --all includes closed)
  dispatch read ID [--json]              wait for the turn to settle, print the last assistant message
  dispatch stop ID                       abort the running turn
  dispatch MODEL --text "..." [--file F] [--cwd DIR] [--conversation ID] [--effort E]
                 [--workspace W] [--show-reasoning]
                                         one turn; MODEL is a line of \`dispatch models\`
  dispatch --help

Every client command takes --server URL (default http://127.0.0.1:$BACKEND_PORT) and sends
DISPATCH_TOKEN as a bearer token when it is set.
Effort levels: low, medium, high (default), xhigh, max`;
