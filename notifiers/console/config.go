package console

import (
	"os"
	"text/template"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

// Config is the console notifier's section of the config file.
type Config struct {
	// Template, when set, is a Go text/template over notifiers.Event whose
	// output replaces the default line. A missing trailing newline is added.
	Template string `yaml:"template"`
}

// Validate parses the template, if any. A template that does not parse or
// does not execute against a sample event is an error starting with
// "template:".
func (c *Config) Validate() error {
	_, err := c.template()
	return err
}

// template returns the parsed template, nil when none is set.
func (c *Config) template() (*template.Template, error) {
	if c.Template == "" {
		return nil, nil
	}
	return notifiers.ParseTemplate("template", c.Template)
}

// New builds a console notifier writing to o.Stdout, or to os.Stdout when
// o.Stdout is nil.
func (c *Config) New(o notifiers.Options) (notifiers.Notifier, error) {
	tmpl, err := c.template()
	if err != nil {
		return nil, err
	}
	w := o.Stdout
	if w == nil {
		w = os.Stdout
	}
	return &Notifier{w: w, tmpl: tmpl, now: time.Now, logger: o.Logger}, nil
}

// Destination is standard output: every console notifier writes there.
func (c *Config) Destination() string { return "stdout" }
