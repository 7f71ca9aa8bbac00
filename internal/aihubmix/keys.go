package aihubmix

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// KeyStatus is an API key's state as the gateway reports it, mapped from the
// two families' codes: one-api / new-api 1 enabled, 2 disabled, 3 expired,
// 4 exhausted; AIHubMix 0 disabled, 1 enabled. The codes do not overlap, so
// one mapping serves both.
type KeyStatus int

// Key statuses. KeyStatusUnknown is a code neither family documents (or none
// at all): the key is judged by its numbers alone.
const (
	KeyStatusUnknown KeyStatus = iota
	KeyEnabled
	KeyDisabled
	KeyExpired
	KeyExhausted
)

// ParseKeyStatus maps a gateway's status code.
func ParseKeyStatus(code int64) KeyStatus {
	switch code {
	case 1:
		return KeyEnabled
	case 0, 2: // AIHubMix 0, one-api / new-api 2: switched off by a person
		return KeyDisabled
	case 3:
		return KeyExpired
	case 4:
		return KeyExhausted
	}
	return KeyStatusUnknown
}

// String returns enabled, disabled, expired, exhausted or unknown.
func (s KeyStatus) String() string {
	switch s {
	case KeyEnabled:
		return "enabled"
	case KeyDisabled:
		return "disabled"
	case KeyExpired:
		return "expired"
	case KeyExhausted:
		return "exhausted"
	}
	return "unknown"
}

// Key is one API key of the account, without its secret: the list's `key`
// field (the credential itself) is never decoded.
type Key struct {
	ID   int64
	Name string
	// Status is the mapped status; StatusCode the gateway's code (-1 when
	// it sent none).
	Status     KeyStatus
	StatusCode int64
	// Unlimited is set for a key without a quota of its own; RemainQuota
	// is then meaningless.
	Unlimited   bool
	RemainQuota int64
	UsedQuota   int64
	// ExpiresAt is the expiry in Unix seconds; 0 means never (the gateways
	// send -1; 0 and other negative values count as never too).
	ExpiresAt int64
}

// MaxKeyPages caps the pages Keys reads; a longer list is returned as read
// so far, with KeyList.Truncated set.
const MaxKeyPages = 100

// KeyPageSize is the page size Keys asks for (new-api's maximum; one-api
// ignores it and answers 10 per page).
const KeyPageSize = 100

// KeyList is the result of Keys.
type KeyList struct {
	Keys []Key
	// Requests is the number of pages requested.
	Requests int
	// Truncated is set when MaxKeyPages were read and more may follow.
	Truncated bool
}

// Keys lists the account's API keys: GET {base_url}/api/token/, every page,
// with the same token, headers and per-request time budget as Self (and
// its retry policy per page). wait, if not nil, is called before every
// request (the gateway's pace); its error ends the listing.
//
// Both families' paging is understood from the first answer: one-api's
// `?p=0` is 0-based and `data` is the list; new-api's is 1-based (p=0 is
// its first page too) and `data` holds `items`, `total` and `page`. Paging
// stops at `total`, at an empty page, at a page shorter than the first, at
// a page that adds no new key (a gateway that ignores `p`), or after
// MaxKeyPages. Numbers may arrive as strings. Every error is an *Error.
func (c *Client) Keys(ctx context.Context, r Request, wait func(context.Context) error) (KeyList, error) {
	base, err := endpointURL(r.BaseURL, "api", "token")
	if err != nil {
		return KeyList{}, &Error{Kind: ErrTransport, Message: "invalid base_url: must be an absolute http or https URL"}
	}
	base += "/" // the gateways route /api/token/; /api/token would redirect
	var out KeyList
	seen := map[int64]bool{}
	p, firstLen := 0, -1
	for {
		if out.Requests == MaxKeyPages {
			out.Truncated = true
			return out, nil
		}
		if wait != nil {
			if err := wait(ctx); err != nil {
				return out, finish(&Error{Kind: ErrTransport, Message: "canceled", cause: context.Canceled}, r)
			}
		}
		u := base + "?" + url.Values{"p": {strconv.Itoa(p)}, "size": {strconv.Itoa(KeyPageSize)}}.Encode()
		var page keyPage
		err := c.do(ctx, u, r, func(status int, header http.Header, body []byte) *Error {
			var e *Error
			page, e = interpretKeys(status, header, body)
			return e
		})
		out.Requests++
		if err != nil {
			if e, ok := err.(*Error); ok {
				e.Message = redactKeys(e.Message)
			}
			return out, err
		}
		added := 0
		for _, k := range page.keys {
			if seen[k.ID] {
				continue
			}
			seen[k.ID] = true
			out.Keys = append(out.Keys, k)
			added++
		}
		if firstLen < 0 {
			firstLen = len(page.keys)
		}
		switch {
		case len(page.keys) == 0, added == 0, page.single:
			return out, nil
		case page.total >= 0 && len(out.Keys) >= page.total:
			return out, nil
		case page.pageSize > 0 && len(page.keys) < page.pageSize:
			return out, nil
		case page.pageSize <= 0 && len(page.keys) < firstLen:
			return out, nil
		}
		switch {
		case page.page > 0: // new-api: 1-based, and it says which page this was
			p = page.page + 1
		default:
			p++
		}
	}
}

// keyPage is one decoded page of the key list.
type keyPage struct {
	keys     []Key
	total    int // -1 when the gateway sent none
	page     int // the page number the gateway reports, 0 when none
	pageSize int // 0 when none
	single   bool
}

// interpretKeys turns one answer of /api/token/ into a page or an *Error.
func interpretKeys(status int, header http.Header, body []byte) (keyPage, *Error) {
	if status/100 != 2 {
		return keyPage{}, statusError(status, header, body)
	}
	if len(body) > maxBody {
		return keyPage{}, &Error{Kind: ErrMalformed, Status: status, Message: "response larger than 1 MiB"}
	}
	body = trimBody(body)
	if len(body) == 0 || body[0] != '{' {
		msg := "invalid JSON"
		if ct := header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
			msg += " (Content-Type " + ct + ")"
		}
		return keyPage{}, &Error{Kind: ErrMalformed, Status: status, Message: msg}
	}
	var env struct {
		Success flag     `json:"success"`
		Message text     `json:"message"`
		Data    keysData `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return keyPage{}, &Error{Kind: ErrMalformed, Status: status, Message: "invalid JSON"}
	}
	if env.Success.set && !env.Success.v {
		return keyPage{}, &Error{Kind: ErrGateway, Status: status, Message: string(env.Message)}
	}
	if env.Data.bad {
		return keyPage{}, &Error{Kind: ErrMalformed, Status: status, Message: "data is not a key list"}
	}
	return env.Data.page, nil
}

// keysData decodes `data` in any of its shapes: a list (one-api), an object
// with items (new-api), or one key object (as AIHubMix's documentation
// shows it). null is an empty list.
type keysData struct {
	page keyPage
	bad  bool
}

// UnmarshalJSON never fails; it records an unusable shape in d.bad.
func (d *keysData) UnmarshalJSON(b []byte) error {
	*d = keysData{page: keyPage{total: -1}}
	switch {
	case string(b) == "null":
	case b[0] == '[':
		var items []rawKey
		if json.Unmarshal(b, &items) != nil {
			d.bad = true
			return nil
		}
		d.page.keys = convertKeys(items)
	case b[0] == '{':
		var obj struct {
			Items    *[]rawKey `json:"items"`
			Total    number    `json:"total"`
			Page     number    `json:"page"`
			PageSize number    `json:"page_size"`
			ID       number    `json:"id"`
		}
		if json.Unmarshal(b, &obj) != nil {
			d.bad = true
			return nil
		}
		switch {
		case obj.Items != nil:
			d.page.keys = convertKeys(*obj.Items)
			if obj.Total.set && obj.Total.v >= 0 {
				d.page.total = int(obj.Total.v)
			}
			d.page.page, d.page.pageSize = int(obj.Page.v), int(obj.PageSize.v)
		case obj.ID.set:
			var k rawKey
			if json.Unmarshal(b, &k) != nil {
				d.bad = true
				return nil
			}
			d.page.keys, d.page.single = convertKeys([]rawKey{k}), true
		default:
			d.bad = true
		}
	default:
		d.bad = true
	}
	return nil
}

// rawKey lists the only fields of a key that are decoded. The key's `key`
// (the credential) must never be added here.
type rawKey struct {
	ID          number `json:"id"`
	Name        text   `json:"name"`
	Status      number `json:"status"`
	RemainQuota number `json:"remain_quota"`
	Unlimited   flag   `json:"unlimited_quota"`
	UsedQuota   number `json:"used_quota"`
	ExpiredTime number `json:"expired_time"`
}

// UnmarshalJSON decodes an element of the list; an element that is not an
// object is skipped (it decodes to no id).
func (k *rawKey) UnmarshalJSON(b []byte) error {
	*k = rawKey{}
	if b[0] != '{' {
		return nil
	}
	type plain rawKey
	return json.Unmarshal(b, (*plain)(k)) // field types never fail
}

// convertKeys keeps the keys that have an id.
func convertKeys(raw []rawKey) []Key {
	out := make([]Key, 0, len(raw))
	for _, r := range raw {
		if !r.ID.set {
			continue
		}
		k := Key{
			ID:          r.ID.v,
			Name:        string(r.Name),
			StatusCode:  -1,
			RemainQuota: r.RemainQuota.v,
			UsedQuota:   r.UsedQuota.v,
		}
		if r.Status.set {
			k.StatusCode = r.Status.v
			k.Status = ParseKeyStatus(r.Status.v)
		}
		// AIHubMix documents remain_quota -1 as unlimited; one-api and
		// new-api say so in unlimited_quota.
		k.Unlimited = r.Unlimited.v || !r.Unlimited.set && r.RemainQuota.set && r.RemainQuota.v == -1
		if r.ExpiredTime.v > 0 {
			k.ExpiresAt = r.ExpiredTime.v
		}
		out = append(out, k)
	}
	return out
}

// keyLike matches what may be an API key in a gateway's error message: an
// sk- key, or a long run of letters and digits (one-api stores keys as 48
// of them, without the prefix).
var keyLike = regexp.MustCompile(`(?i)sk-[a-z0-9_-]{6,}|[A-Za-z0-9]{32,}`)

// redactKeys hides anything key-like in a message from the key list, whose
// answers carry every key in full: a gateway's error could quote one.
func redactKeys(msg string) string {
	return keyLike.ReplaceAllString(msg, "[REDACTED]")
}
