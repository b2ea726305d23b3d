package main

import (
	"fmt"

	"github.com/alecthomas/kong"
	mangokong "github.com/alecthomas/mango-kong"
	"github.com/muesli/roff"
)

// CompletionCmd prints the shell glue that asks occ itself for completions:
// the shell runs `occ` with the command line in $COMP_LINE and kongplete
// (in run) answers from occ's kong model, so completions follow the
// commands and flags of the binary that is installed.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

// completionScripts are installed by the packages as
// /usr/share/bash-completion/completions/occ,
// /usr/share/zsh/vendor-completions/_occ and
// /usr/share/fish/vendor_completions.d/occ.fish; or sourced by hand
// (source <(occ completion bash)).
var completionScripts = map[string]string{
	"bash": `# bash completion for occ: occ answers itself (occ completion bash)
complete -o default -C occ occ
`,
	"zsh": `#compdef occ
# zsh completion for occ: occ answers itself (occ completion zsh)
local -a matches
matches=(${(f)"$(COMP_LINE="${words[1,CURRENT]}" occ 2>/dev/null)"})
compadd -a matches
`,
	"fish": `# fish completion for occ: occ answers itself (occ completion fish)
function __complete_occ
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    occ
end
complete -f -c occ -a "(__complete_occ)"
`,
}

func (c *CompletionCmd) Run(app *App) error {
	s, ok := completionScripts[c.Shell]
	if !ok { // kong's enum has refused it already
		return fmt.Errorf("no completion for shell %q: use bash, zsh or fish", c.Shell)
	}
	_, err := fmt.Fprint(app.UI.Out, s)
	return err
}

// ManCmd prints occ's man page (occ(1), roff) generated from the command
// tree by mango-kong; packages install it as /usr/share/man/man1/occ.1.gz
// (make man).
type ManCmd struct{}

func (c *ManCmd) Run(kctx *kong.Context, app *App) error {
	page := mangokong.NewManPage(1, kctx.Model).
		WithLongDescription("occ runs the opencode AI coding agent as a persistent, authenticated web service inside a sandbox container. "+
			"It talks to containerd and BuildKit directly and pulls with go-containerregistry, so it works on hosts without a Docker daemon.\n"+
			"Start with occ setup, then occ start; occ doctor says what is missing.").
		WithSection("Files", "$XDG_CONFIG_HOME/opencode-cloud/config.json (default ~/.config/opencode-cloud/config.json): the configuration.\n"+
			"$XDG_DATA_HOME/opencode-cloud (default ~/.local/share/opencode-cloud): image state, volumes, logs and occ's lock.").
		WithSection("See also", "occ doctor checks what occ needs; https://github.com/opencode-cloud/occ has the documentation.")
	_, err := fmt.Fprint(app.UI.Out, page.Build(roff.NewDocument()))
	return err
}
