package orchestration

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// StateSet is a set of state types; NoState ("") stands for "no state".
type StateSet map[apitype.StateType]bool

// NoState is the state type of a missing state.
const NoState apitype.StateType = ""

func setOf(types ...apitype.StateType) StateSet {
	s := StateSet{}
	for _, t := range types {
		s[t] = true
	}
	return s
}

// allStates is Prefect's ALL_ORCHESTRATION_STATES: every type plus no state.
func allStates() StateSet { return setOf(append(apitype.StateTypes, NoState)...) }

func terminalStates() StateSet {
	return setOf(apitype.StateTypeCompleted, apitype.StateTypeFailed, apitype.StateTypeCancelled, apitype.StateTypeCrashed)
}

func allStatesExcept(types ...apitype.StateType) StateSet {
	s := allStates()
	for _, t := range types {
		delete(s, t)
	}
	return s
}

// Rule is one orchestration rule or universal transform. A fresh value is
// made per transition (see Policy), so rules may keep state between hooks.
type Rule interface {
	Name() string
	// FromStates and ToStates select the transitions the rule governs.
	FromStates() StateSet
	ToStates() StateSet
	// Universal transforms fire on every transition and are never invalid
	// or fizzled; they check for a nil proposed state themselves.
	Universal() bool
	BeforeTransition(ctx context.Context, c *Context) error
	AfterTransition(ctx context.Context, c *Context) error
	// Cleanup runs instead of AfterTransition when the rule fizzled.
	Cleanup(ctx context.Context, c *Context) error
}

type hook func(ctx context.Context, c *Context) error

// rule implements Rule from closures; constructors capture any state a rule
// keeps between its hooks.
type rule struct {
	name      string
	from, to  StateSet
	universal bool
	before    hook
	after     hook
	cleanup   hook
}

func (r *rule) Name() string         { return r.name }
func (r *rule) FromStates() StateSet { return r.from }
func (r *rule) ToStates() StateSet   { return r.to }
func (r *rule) Universal() bool      { return r.universal }

func (r *rule) BeforeTransition(ctx context.Context, c *Context) error { return run(r.before, ctx, c) }
func (r *rule) AfterTransition(ctx context.Context, c *Context) error  { return run(r.after, ctx, c) }
func (r *rule) Cleanup(ctx context.Context, c *Context) error          { return run(r.cleanup, ctx, c) }

func run(h hook, ctx context.Context, c *Context) error {
	if h == nil {
		return nil
	}
	return h(ctx, c)
}

// transform builds a universal transform: it governs every transition.
func transform(name string, before, after hook) *rule {
	return &rule{name: name, from: allStates(), to: allStates(), universal: true, before: before, after: after}
}

// Policy is an ordered list of rule constructors.
type Policy struct {
	Name  string
	Rules []func() Rule
}

// RuleNames lists the policy's rules in priority order.
func (p Policy) RuleNames() []string {
	names := make([]string, len(p.Rules))
	for i, mk := range p.Rules {
		names[i] = mk().Name()
	}
	return names
}

// Compile returns fresh instances of the rules governing from → to.
func (p Policy) Compile(from, to apitype.StateType) []Rule {
	var out []Rule
	for _, mk := range p.Rules {
		r := mk()
		if r.FromStates()[from] && r.ToStates()[to] {
			out = append(out, r)
		}
	}
	return out
}

// step is one compiled rule during a transition, with the transition it
// believes it governs.
type step struct {
	rule    Rule
	from    apitype.StateType
	to      apitype.StateType
	invalid bool
	exiting bool
}

// Engine runs orchestration. Lookup is required; Now and NewID default to
// the wall clock (UTC, microsecond precision like Prefect) and uuid v7.
type Engine struct {
	Lookup Lookup
	Config Config
	Now    func() time.Time
	NewID  func() uuid.UUID
}

// Request is one proposed transition.
type Request struct {
	Run      *Run           // not modified; the result carries the updated copy
	Initial  *apitype.State // the run's current state, nil if none
	Proposed *apitype.State // required
	Force    bool
	// Policy overrides the default choice (DefaultPolicy) when non-nil, as
	// Prefect's policy providers do; MarkLateRunsPolicy is used this way.
	Policy        *Policy
	APIVersion    string
	ClientVersion string
}

// Result is the outcome of a transition.
type Result struct {
	// OrchestrationResult is the API response: the validated state (the new
	// state, or the current one when none was written), status and details.
	apitype.OrchestrationResult
	// Run is the updated run; the caller writes all of its columns.
	Run *Run
	// NewState is the state row to insert, nil when nothing is written.
	NewState *apitype.State
	// Effects are further writes, in order.
	Effects []Effect
	// Fired names the rules whose entry hook fired, in order (debugging).
	Fired []string
}

// DefaultPolicy is Prefect's policy choice for a run kind: flows get
// CoreFlowPolicy, or MinimalFlowPolicy when forced; task runs get
// BackgroundTaskPolicy for deferred states, MinimalTaskPolicy when forced,
// else CoreTaskPolicy (what the set_state endpoint passes).
func DefaultPolicy(kind RunKind, force bool, proposed *apitype.State) Policy {
	if kind == FlowRunKind {
		if force {
			return MinimalFlowPolicy()
		}
		return CoreFlowPolicy()
	}
	switch {
	case proposed != nil && proposed.StateDetails.Deferred:
		return BackgroundTaskPolicy()
	case force:
		return MinimalTaskPolicy()
	}
	return CoreTaskPolicy()
}

// Orchestrate governs req and returns what to write. It performs no writes;
// an error means the transaction must be rolled back.
func (e *Engine) Orchestrate(ctx context.Context, req Request) (*Result, error) {
	if req.Run == nil || req.Proposed == nil {
		return nil, errors.New("orchestrate: run and proposed state are required")
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	newID := e.NewID
	if newID == nil {
		newID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	}
	c := &Context{
		Kind:          req.Run.Kind,
		Run:           req.Run.Clone(),
		Initial:       req.Initial.Clone(),
		Proposed:      req.Proposed.Clone(),
		APIVersion:    req.APIVersion,
		ClientVersion: req.ClientVersion,
		Status:        apitype.SetStateStatusAccept,
		Details:       apitype.AcceptDetails(),
		Now:           now().UTC().Truncate(time.Microsecond),
		Lookup:        e.Lookup,
		Config:        e.Config.withDefaults(),
		newID:         newID,
	}
	policy := DefaultPolicy(c.Kind, req.Force, req.Proposed)
	if req.Policy != nil {
		policy = *req.Policy
	}
	global := GlobalTaskPolicy()
	if c.Kind == FlowRunKind {
		global = GlobalFlowPolicy()
	}
	from, to := c.InitialType(), c.ProposedType()
	rules := append(policy.Compile(from, to), global.Compile(from, to)...)

	res := &Result{}
	steps := make([]*step, len(rules))
	for i, r := range rules {
		s := &step{rule: r, from: from, to: to}
		steps[i] = s
		if !r.Universal() && (s.from != c.InitialType() || s.to != c.ProposedType()) {
			s.invalid = true
			continue
		}
		c.current = s
		if err := r.BeforeTransition(ctx, c); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name(), err)
		}
		res.Fired = append(res.Fired, r.Name())
	}
	c.current = nil

	if c.Proposed != nil {
		if c.Proposed.ID == uuid.Nil {
			c.Proposed.ID = newID()
		}
		res.NewState = c.Proposed.Clone()
		c.Validated = c.Proposed.Clone()
	} else {
		c.Validated = c.Initial.Clone()
	}

	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		if s.invalid {
			continue
		}
		c.current = s
		s.exiting = true
		var err error
		if !s.rule.Universal() && (s.from != c.InitialType() || s.to != c.ProposedType()) {
			c.dropEntryEffects(s)
			err = s.rule.Cleanup(ctx, c)
		} else {
			err = s.rule.AfterTransition(ctx, c)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.rule.Name(), err)
		}
	}
	c.current = nil

	res.OrchestrationResult = apitype.OrchestrationResult{State: c.Validated, Status: c.Status, Details: c.Details}
	res.Run = c.Run
	for _, oe := range c.effects {
		res.Effects = append(res.Effects, oe.effect)
	}
	return res, nil
}

// dropEntryEffects discards what a fizzled rule asked for on entry: the
// transition it planned for did not happen.
func (c *Context) dropEntryEffects(s *step) {
	kept := c.effects[:0]
	for _, oe := range c.effects {
		if oe.owner == s && oe.onEntry {
			continue
		}
		kept = append(kept, oe)
	}
	c.effects = kept
}

// CreatedNewState reports whether the set_state endpoint answers 201 rather
// than 200: a state is returned and it is not older than the request.
func CreatedNewState(r apitype.OrchestrationResult, requestStart time.Time) bool {
	return r.State != nil && !r.State.Timestamp.Before(requestStart)
}
