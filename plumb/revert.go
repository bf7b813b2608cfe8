package plumb

import (
	"fmt"
	"strings"
)

// reverter makes a multi-step create all-or-nothing: each step that changed
// something registers how to undo it; unless success is called, fail undoes
// the registered steps in reverse order. Use:
//
//	rev := &reverter{}
//	defer rev.fail(&err)
//	... rev.add("delete link X", func() error { ... }) ...
//	rev.success()
type reverter struct {
	steps []revertStep
	done  bool
}

type revertStep struct {
	what string
	undo func() error
}

func (r *reverter) add(what string, undo func() error) {
	r.steps = append(r.steps, revertStep{what, undo})
}

// success keeps what was done.
func (r *reverter) success() { r.done = true }

// fail undoes every registered step, newest first, unless success was
// called. An undo that fails is reported in *errp (still one line) so the
// caller learns what was left behind; the remaining steps still run.
func (r *reverter) fail(errp *error) {
	if r.done {
		return
	}
	var failed []string
	for i := len(r.steps) - 1; i >= 0; i-- {
		if err := r.steps[i].undo(); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r.steps[i].what, err))
		}
	}
	r.steps = nil
	if len(failed) == 0 || errp == nil {
		return
	}
	msg := "undo failed (" + strings.Join(failed, "; ") + ")"
	if *errp == nil {
		*errp = plumbErr("%s", msg)
		return
	}
	*errp = plumbErr("%v; %s", *errp, msg)
}
