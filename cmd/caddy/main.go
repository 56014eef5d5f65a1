// Command caddy is Caddy with its standard modules and the callback_guard
// module compiled in: go build -o bin/caddy ./cmd/caddy
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The callback_guard module.
	_ "github.com/callbackguard/callbackguard/caddymodule"
)

func main() {
	caddycmd.Main()
}
