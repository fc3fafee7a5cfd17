package main

import (
	"os"
	"slices"
	"testing"

	"github.com/goccy/go-yaml"
)

// samTemplate is the part of deploy/template.yaml this test reads.
type samTemplate struct {
	Globals struct {
		Function struct {
			Environment struct {
				Variables map[string]any `yaml:"Variables"`
			} `yaml:"Environment"`
		} `yaml:"Function"`
	} `yaml:"Globals"`
	Resources map[string]struct {
		Type       string `yaml:"Type"`
		Properties struct {
			Handler     string `yaml:"Handler"`
			Environment struct {
				Variables map[string]any `yaml:"Variables"`
			} `yaml:"Environment"`
		} `yaml:"Properties"`
	} `yaml:"Resources"`
}

// TestTemplateSetsWhatHandlersRead holds deploy/template.yaml and the
// handlers together: each function gets exactly the variables loadConfig
// reads, and the handlers it names exist.
func TestTemplateSetsWhatHandlersRead(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl samTemplate
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(ConfigVars))
	handlers := map[string]bool{}
	for name, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		vars := map[string]bool{}
		for k := range tpl.Globals.Function.Environment.Variables {
			vars[k] = true
		}
		for k := range r.Properties.Environment.Variables {
			vars[k] = true
		}
		got := make([]string, 0, len(vars))
		for k := range vars {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s sets %v; the handlers read %v", name, got, want)
		}
		handlers[r.Properties.Handler] = true
	}
	if len(handlers) != 2 || !handlers[HandlerIssue] || !handlers[HandlerVerify] {
		t.Fatalf("template handlers %v, want issue and verify", handlers)
	}
}

// TestConfigVarsAreWhatLoadConfigReads keeps ConfigVars honest: it records
// every variable loadConfig asks for.
func TestConfigVarsAreWhatLoadConfigReads(t *testing.T) {
	env := validEnv()
	read := map[string]bool{}
	if _, err := loadConfig(func(k string) string { read[k] = true; return env[k] }); err != nil {
		t.Fatal(err)
	}
	delete(read, EnvHandler)
	got := make([]string, 0, len(read))
	for k := range read {
		got = append(got, k)
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(ConfigVars)); !slices.Equal(got, want) {
		t.Fatalf("loadConfig reads %v, ConfigVars lists %v", got, want)
	}
}
