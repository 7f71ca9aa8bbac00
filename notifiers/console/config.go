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

	tmpl *template.Template
}

// Validate parses the template, if any, and keeps the result for New. A
// template that does not parse or does not execute against a sample event
// is an error starting with "template:".
func (c *Config) Validate() error {
	c.tmpl = nil
	if c.Template == "" {
		return nil
	}
	t, err := notifiers.ParseTemplate("template", c.Template)
	if err != nil {
		return err
	}
	c.tmpl = t
	return nil
}

// New builds a console notifier writing to o.Stdout, or to os.Stdout when
// o.Stdout is nil.
func (c *Config) New(o notifiers.Options) (notifiers.Notifier, error) {
	if c.Template != "" && c.tmpl == nil {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	w := o.Stdout
	if w == nil {
		w = os.Stdout
	}
	return &Notifier{w: w, tmpl: c.tmpl, now: time.Now}, nil
}
