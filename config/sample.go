package config

import (
	"strconv"
	"strings"
	"time"
)

// Sample is a delivery of a preset's provider, for `caddy callback
// sign|send`: a body and the headers the provider sends besides its
// signature. In both, {id}, {event}, {unix} and {time} stand for the
// delivery's id, its event, and its time as Unix seconds and RFC 3339.
type Sample struct {
	// Event is the event of a sample when none is asked for.
	Event string
	// Body is the JSON body.
	Body string
	// Headers are sent with it (the signature header is the signer's).
	Headers map[string]string
}

// Render fills in a sample. An empty event is the sample's own; the id
// must be safe in JSON text (letters, digits, '-' and '_').
func (s *Sample) Render(id, event string, now time.Time) (body []byte, headers map[string]string) {
	if event == "" {
		event = s.Event
	}
	r := strings.NewReplacer("{id}", id, "{event}", event,
		"{unix}", strconv.FormatInt(now.Unix(), 10), "{time}", now.UTC().Format(time.RFC3339))
	headers = make(map[string]string, len(s.Headers))
	for k, v := range s.Headers {
		headers[k] = r.Replace(v)
	}
	return []byte(r.Replace(s.Body)), headers
}
