package deploy

import (
	"fmt"
	"strings"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
)

func stepCounts(op *powerbi.PipelineOperation) (done, total int) {
	if op.ExecutionPlan == nil {
		return 0, 0
	}
	for _, s := range op.ExecutionPlan.Steps {
		total++
		if s.Status == powerbi.StatusSucceeded || s.Status == powerbi.StatusFailed {
			done++
		}
	}
	return done, total
}

// stepName names a step for the log: its type and its item.
func stepName(s powerbi.ExecutionStep) string {
	name := s.Type
	if st := s.SourceAndTarget; st != nil {
		item := st.SourceDisplayName
		if item == "" {
			item = st.Source
		}
		name = fmt.Sprintf("%s %q", s.Type, item)
	}
	return name
}

// FailedSteps lists each failed step with its error.
func FailedSteps(op *powerbi.PipelineOperation) []string {
	if op.ExecutionPlan == nil {
		return nil
	}
	var out []string
	for _, s := range op.ExecutionPlan.Steps {
		if s.Status != powerbi.StatusFailed && s.Error == nil {
			continue
		}
		line := fmt.Sprintf("step %d, %s: failed", s.Index, stepName(s))
		if s.Error != nil {
			line = fmt.Sprintf("step %d, %s: %s", s.Index, stepName(s), s.Error.ErrorCode)
			if s.Error.ErrorDetails != "" {
				line += " — " + s.Error.ErrorDetails
			}
		}
		out = append(out, line)
	}
	return out
}

// Summary lists every step with its outcome, for the log of a finished deployment.
func Summary(op *powerbi.PipelineOperation) []string {
	if op.ExecutionPlan == nil {
		return nil
	}
	var out []string
	for _, s := range op.ExecutionPlan.Steps {
		line := fmt.Sprintf("step %d, %s: %s", s.Index, stepName(s), s.Status)
		if s.PreDeploymentDiffState != "" {
			line += fmt.Sprintf(" (%s)", s.PreDeploymentDiffState)
		}
		out = append(out, line)
	}
	return out
}

// Counts adds up how the deployed items compared with the target beforehand.
func Counts(outcomes []Outcome) (c powerbi.DiffInformation, ok bool) {
	for _, o := range outcomes {
		if d := o.Op.PreDeploymentDiffInformation; d != nil {
			c.NewArtifactsCount += d.NewArtifactsCount
			c.DifferentArtifactsCount += d.DifferentArtifactsCount
			c.NoDifferenceArtifactsCount += d.NoDifferenceArtifactsCount
			ok = true
		}
	}
	return c, ok
}

// CountsLine says the counts in words.
func CountsLine(c powerbi.DiffInformation) string {
	return fmt.Sprintf("%d new, %d different, %d unchanged", c.NewArtifactsCount, c.DifferentArtifactsCount, c.NoDifferenceArtifactsCount)
}

// SummaryHeader is what the markdown summary says about the run as a whole.
type SummaryHeader struct {
	Pipeline, PipelineID string
	Plan                 *Plan
	Outcome              string // Succeeded, Failed, or what the task could tell (still running, ...)
}

// Markdown is the run's summary page section: the deployment, its counts, and a table of
// every step of every part. Text from the service is escaped so it can only ever be table text.
func Markdown(h SummaryHeader, outcomes []Outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Power BI deployment: %s\n\n", md(h.Plan.Describe()))
	fmt.Fprintf(&b, "Pipeline **%s** (`%s`): **%s**", md(h.Pipeline), md(h.PipelineID), md(h.Outcome))
	if c, ok := Counts(outcomes); ok {
		fmt.Fprintf(&b, " · %s", CountsLine(c))
	}
	b.WriteString("\n\n")
	for _, o := range outcomes {
		title := "Deployment"
		if l := o.Part.Label(); l != "" {
			title = "Part " + strings.TrimPrefix(l, "part ")
		}
		fmt.Fprintf(&b, "#### %s `%s`: %s\n\n", title, md(o.Op.ID), md(o.Op.Status))
		if o.Op.ExecutionPlan == nil || len(o.Op.ExecutionPlan.Steps) == 0 {
			if o.Op.Done() || o.Op.ExecutionPlan != nil {
				b.WriteString("The service reported no steps for this deployment.\n\n")
			} else {
				b.WriteString("No step details were read: the task did not wait for this deployment.\n\n")
			}
			continue
		}
		b.WriteString("| # | Item | Type | Before | Result | Error |\n|---|---|---|---|---|---|\n")
		for _, s := range o.Op.ExecutionPlan.Steps {
			item, typ := "", s.Type
			if st := s.SourceAndTarget; st != nil {
				item = st.SourceDisplayName
				if item == "" {
					item = st.Source
				}
				if st.Type != "" {
					typ = st.Type
				}
			}
			errText := ""
			if s.Error != nil {
				errText = s.Error.ErrorCode
				if s.Error.ErrorDetails != "" {
					errText += ": " + s.Error.ErrorDetails
				}
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s |\n", s.Index, md(item), md(typ), md(s.PreDeploymentDiffState), md(s.Status), md(errText))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// md makes outside text inert in markdown: one line, no table breaks, no markup, no HTML.
var mdEscaper = strings.NewReplacer(
	"\r\n", " ", "\r", " ", "\n", " ",
	"\\", "\\\\", "|", "\\|", "`", "\\`", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]",
	"<", "&lt;", ">", "&gt;", "&", "&amp;", "#", "\\#", "!", "\\!",
)

func md(s string) string { return mdEscaper.Replace(s) }
