package otp

// Event names something that happened in the Service, for metrics. Events
// never carry numbers, codes or ids.
type Event string

// The events a Service reports to its observer.
const (
	EventStarted  Event = "started"
	EventResent   Event = "resent"
	EventApproved Event = "approved"
	// EventWrongCode is a wrong guess that did not end the verification.
	EventWrongCode Event = "wrong_code"
	// EventMaxAttempts is a wrong guess that used the last attempt and so
	// ended the verification; it is not also an EventWrongCode.
	EventMaxAttempts       Event = "max_attempts"
	EventExpired           Event = "expired"
	EventCanceled          Event = "canceled"
	EventSMSSent           Event = "sms_sent"
	EventLookupOK          Event = "lookup_ok"
	EventLookupInvalid     Event = "lookup_invalid"
	EventLookupUnavailable Event = "lookup_unavailable"
	EventRateLimited       Event = "rate_limited"
	// EventPrefixLimited is a start refused by the static cap of sends per
	// number prefix; it is not also an EventRateLimited.
	EventPrefixLimited Event = "prefix_limited"
	// EventSendBudgetExhausted is a start refused by a daily send budget.
	EventSendBudgetExhausted Event = "send_budget_exhausted"
	// EventCodeCompared is one guess compared with a stored code hash, right
	// or wrong: the bcrypt work that OTP_MAX_ATTEMPTS bounds.
	EventCodeCompared Event = "code_compared"
)
