package websms

// The statusCode values the websms.com REST API documents. 2xxx is success,
// 4xxx a refusal of the request (nothing was sent), 5xxx a fault of websms.
const (
	CodeOK                     = 2000
	CodeOKQueued               = 2001
	CodeInvalidCredentials     = 4001
	CodeInvalidRecipient       = 4002
	CodeInvalidSender          = 4003
	CodeInvalidMessageType     = 4004
	CodeInvalidMessageID       = 4008
	CodeInvalidText            = 4009
	CodeMsgLimitExceeded       = 4013
	CodeUnauthorizedIP         = 4014
	CodeInvalidMessagePriority = 4015
	CodeInvalidCallbackURL     = 4016
	CodeParameterMissing       = 4019
	CodeInvalidAccount         = 4021
	CodeAccessDenied           = 4022
	CodeThrottlingSpammingIP   = 4023
	CodeTooManyRecipients      = 4025
	CodeMaxSMSPerMessage       = 4026
	CodeInvalidMessageSegment  = 4027
	CodeRecipientsBlacklisted  = 4031
	CodeNoDeviceEnabled        = 4032
	CodeWhatsAppDisabled       = 4033
	CodeInvalidAttachment      = 4034
	CodeSMSDisabled            = 4035
	CodeInvalidContentCategory = 4040
	CodeInvalidValidityPeriode = 4041
	CodeInternalError          = 5000
	CodeServiceUnavailable     = 5003
)

// statusNames holds the documented status of each statusCode.
var statusNames = map[int]string{
	CodeOK:                     "OK",
	CodeOKQueued:               "OK_QUEUED",
	CodeInvalidCredentials:     "INVALID_CREDENTIALS",
	CodeInvalidRecipient:       "INVALID_RECIPIENT",
	CodeInvalidSender:          "INVALID_SENDER",
	CodeInvalidMessageType:     "INVALID_MESSAGE_TYPE",
	CodeInvalidMessageID:       "INVALID_MESSAGE_ID",
	CodeInvalidText:            "INVALID_TEXT",
	CodeMsgLimitExceeded:       "MSG_LIMIT_EXCEEDED",
	CodeUnauthorizedIP:         "UNAUTHORIZED_IP",
	CodeInvalidMessagePriority: "INVALID_MESSAGE_PRIORITY",
	CodeInvalidCallbackURL:     "INVALID_COD_RETURNADDRES",
	CodeParameterMissing:       "PARAMETER_MISSING",
	CodeInvalidAccount:         "INVALID_ACCOUNT",
	CodeAccessDenied:           "ACCESS_DENIED",
	CodeThrottlingSpammingIP:   "THROTTLING_SPAMMING_IP",
	CodeTooManyRecipients:      "THROTTLING_TOO_MANY_RECIPIENTS",
	CodeMaxSMSPerMessage:       "MAX_SMS_PER_MESSAGE_EXCEEDED",
	CodeInvalidMessageSegment:  "INVALID_MESSAGE_SEGMENT",
	CodeRecipientsBlacklisted:  "RECIPIENTS_BLACKLISTED",
	CodeNoDeviceEnabled:        "NO_DEVICE_ENABLED",
	CodeWhatsAppDisabled:       "WHATSAPP_DISABLED",
	CodeInvalidAttachment:      "INVALID_ATTACHMENT",
	CodeSMSDisabled:            "SMS_DISABLED",
	CodeInvalidContentCategory: "INVALID_CONTENT_CATEGORY",
	CodeInvalidValidityPeriode: "INVALID_VALIDITY_PERIODE",
	CodeInternalError:          "INTERNAL_ERROR",
	CodeServiceUnavailable:     "SERVICE_UNAVAILABLE",
}

// StatusName returns the documented status of a statusCode, e.g.
// "INVALID_RECIPIENT" for 4002, or "" for a code the documentation does not
// list.
func StatusName(code int) string { return statusNames[code] }

// succeeded reports whether code says the message was accepted.
func succeeded(code int) bool { return code == CodeOK || code == CodeOKQueued }

// throttling reports whether code is one of the documented rate or volume
// limits (CONTRACT §8: 4013, 4023, 4025).
func throttling(code int) bool {
	return code == CodeMsgLimitExceeded || code == CodeThrottlingSpammingIP || code == CodeTooManyRecipients
}

// certainlyNotSent reports whether code says websms sent nothing: every
// 4xxx, listed or not, refuses the request (the documents give the 4xxx
// range to refusals), and 5003 is an outage before any send. 5000 "may
// have sent", and any other code outside 4xxx could mean anything, so
// neither rules a send out.
func certainlyNotSent(code int) bool {
	return (code >= 4000 && code <= 4999) || code == CodeServiceUnavailable
}
