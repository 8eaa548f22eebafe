package validate

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// alertsDir holds the Prometheus alert rules and their promtool unit tests.
var alertsDir = filepath.Join(deployDir, "prometheus")

const (
	alertRules     = "otpgate-alerts.yml"
	alertRuleTests = "otpgate-alerts.test.yml"
)

// TestAlertRules runs promtool on the shipped alert rules: check rules
// catches bad YAML, PromQL and templates; test rules runs their unit tests.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		requireCI(t, "promtool is not installed (Debian package prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", alertRules}, {"test", "rules", alertRuleTests}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = alertsDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type alertExpectation struct {
	Labels map[string]string `json:"exp_labels"`
}

type alertRuleTest struct {
	Alertname string             `json:"alertname"`
	ExpAlerts []alertExpectation `json:"exp_alerts"`
}

// envVarName matches configuration variable names in annotation text.
var envVarName = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b`)

// TestAlertRulesTellWhatToDo holds what promtool does not check: every alert
// has a severity, a summary and a description that names the settings to
// change (variables of the contract, not typos), and fires in at least one
// unit test, so a new rule cannot ship untested.
func TestAlertRulesTellWhatToDo(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(alertsDir, alertRules)), &rules); err != nil {
		t.Fatalf("%s: %v", alertRules, err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []alertRuleTest `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(alertsDir, alertRuleTests)), &tests); err != nil {
		t.Fatalf("%s: %v", alertRuleTests, err)
	}
	var cases []alertRuleTest
	for _, tc := range tests.Tests {
		cases = append(cases, tc.AlertRuleTest...)
	}

	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s %v: severity %q, want warning or critical", r.Alert, r.Labels, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s %v: no summary", r.Alert, r.Labels)
			}
			vars := envVarName.FindAllString(r.Annotations["description"], -1)
			if len(vars) == 0 {
				t.Errorf("%s %v: the description names no setting to change", r.Alert, r.Labels)
			}
			for _, v := range vars {
				if !contractVars[v] {
					t.Errorf("%s %v: the description names %s, which is not a contract variable", r.Alert, r.Labels, v)
				}
			}
			if !firesInATest(r, cases) {
				t.Errorf("%s %v: no case in %s expects it to fire", r.Alert, r.Labels, alertRuleTests)
			}
		}
	}
	if alerts == 0 {
		t.Fatalf("%s has no alerts", alertRules)
	}
}

// firesInATest reports whether a case expects r to fire: an alert of its
// name carrying its labels (which tell apart rules that share a name).
func firesInATest(r alertRule, cases []alertRuleTest) bool {
	for _, c := range cases {
		if c.Alertname != r.Alert {
			continue
		}
	expected:
		for _, e := range c.ExpAlerts {
			for k, v := range r.Labels {
				if e.Labels[k] != v {
					continue expected
				}
			}
			return true
		}
	}
	return false
}
