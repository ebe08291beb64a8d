package notifications

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"
	"time"

	"golang.org/x/text/language"
)

// message is one kind of notice in one locale: a title and a body, both text/templates over
// messageData.
type message struct{ Title, Body string }

// messages holds every kind in every locale. English is complete and the fallback; another
// locale may leave kinds out.
var messages = map[string]map[string]message{
	"en": {
		"password_changed":   {"Your password was changed", "The password of your tutorhub account was changed on {{.Time}} from {{.Device}}. If this was not you, recover your account now: every other session has been signed out."},
		"recovery_completed": {"Your account was recovered", "Your tutorhub account was recovered with a code mailed to you, and a new password was set, on {{.Time}} from {{.Device}}. If this was not you, recover your account again now."},
		"new_device_sign_in": {"New sign-in to your account", "Someone signed in to your tutorhub account on {{.Time}} from a device not seen before: {{.Device}}. If this was not you, change your password now."},
		"tutor_published":    {"Your tutor profile is live", "Your tutor profile was published on {{.Time}}; students can now find you in search."},
		"upload_scanned":     {"Your upload was checked", "Your {{.Data.purpose}} upload was checked on {{.Time}}: {{.Data.status}}."},
		"booking_requested":  {"New lesson request", "A student asked for a lesson on {{.Data.start}}. Accept or decline it in My bookings."},
		"booking_accepted":   {"Your lesson request was accepted", "Your lesson on {{.Data.start}} was accepted. Pay in My bookings to confirm it; the slot is held for 30 minutes."},
		"booking_declined":   {"Your lesson request was declined", "The tutor declined your lesson on {{.Data.start}}."},
		"booking_confirmed":  {"Lesson confirmed", "The lesson on {{.Data.start}} is paid and confirmed."},
		"booking_reminder":   {"Lesson reminder", "Your lesson starts on {{.Data.start}}."},
		"booking_cancelled":  {"Lesson cancelled", "The lesson on {{.Data.start}} was cancelled. Any refund follows the cancellation policy."},
		"booking_expired":    {"Lesson request expired", "The lesson on {{.Data.start}} expired: it was not accepted or not paid in time."},
		"booking_completed":  {"Lesson completed", "The lesson on {{.Data.start}} is complete. Students can now review it."},
	},
	"de": {
		"password_changed":   {"Ihr Passwort wurde geändert", "Das Passwort Ihres tutorhub-Kontos wurde am {{.Time}} von {{.Device}} geändert. Waren Sie das nicht, stellen Sie Ihr Konto jetzt wieder her: alle anderen Sitzungen wurden abgemeldet."},
		"recovery_completed": {"Ihr Konto wurde wiederhergestellt", "Ihr tutorhub-Konto wurde am {{.Time}} von {{.Device}} mit einem per Mail gesandten Code wiederhergestellt, und ein neues Passwort wurde gesetzt. Waren Sie das nicht, stellen Sie Ihr Konto jetzt erneut wieder her."},
		"new_device_sign_in": {"Neue Anmeldung bei Ihrem Konto", "Jemand hat sich am {{.Time}} von einem unbekannten Gerät bei Ihrem tutorhub-Konto angemeldet: {{.Device}}. Waren Sie das nicht, ändern Sie jetzt Ihr Passwort."},
		"tutor_published":    {"Ihr Tutorprofil ist online", "Ihr Tutorprofil wurde am {{.Time}} veröffentlicht; Lernende finden Sie jetzt in der Suche."},
		"upload_scanned":     {"Ihr Upload wurde geprüft", "Ihr Upload ({{.Data.purpose}}) wurde am {{.Time}} geprüft: {{.Data.status}}."},
		"booking_requested":  {"Neue Stundenanfrage", "Jemand möchte am {{.Data.start}} eine Stunde bei Ihnen buchen. Nehmen Sie sie unter Meine Buchungen an oder lehnen Sie sie ab."},
		"booking_accepted":   {"Ihre Stundenanfrage wurde angenommen", "Ihre Stunde am {{.Data.start}} wurde angenommen. Bezahlen Sie sie unter Meine Buchungen, um sie zu bestätigen; der Termin ist 30 Minuten reserviert."},
		"booking_declined":   {"Ihre Stundenanfrage wurde abgelehnt", "Die Stunde am {{.Data.start}} wurde abgelehnt."},
		"booking_confirmed":  {"Stunde bestätigt", "Die Stunde am {{.Data.start}} ist bezahlt und bestätigt."},
		"booking_reminder":   {"Erinnerung an Ihre Stunde", "Ihre Stunde beginnt am {{.Data.start}}."},
		"booking_cancelled":  {"Stunde storniert", "Die Stunde am {{.Data.start}} wurde storniert. Eine Erstattung richtet sich nach den Stornobedingungen."},
		"booking_expired":    {"Stundenanfrage abgelaufen", "Die Stunde am {{.Data.start}} ist abgelaufen: sie wurde nicht rechtzeitig angenommen oder bezahlt."},
		"booking_completed":  {"Stunde abgeschlossen", "Die Stunde am {{.Data.start}} ist abgeschlossen. Lernende können sie jetzt bewerten."},
	},
}

// layoutStrings are the words of the mail layout per locale.
var layoutStrings = map[string]map[string]string{
	"en": {"lang": "en", "greeting": "Hello", "unsubscribe": "Stop these emails", "security": "Security notices cannot be turned off.", "unknown_device": "an unknown device"},
	"de": {"lang": "de", "greeting": "Hallo", "unsubscribe": "Diese E-Mails abbestellen", "security": "Sicherheitshinweise lassen sich nicht abbestellen.", "unknown_device": "einem unbekannten Gerät"},
}

// Locales lists the locales with messages; others fall back to English.
var Locales = []string{"en", "de"}

var matcher = language.NewMatcher([]language.Tag{language.English, language.German})

// localeOf picks the best supported locale for a stored BCP 47 locale ("de-AT" -> "de").
func localeOf(stored string) string {
	tag, err := language.Parse(stored)
	if err != nil {
		return "en"
	}
	_, i, conf := matcher.Match(tag)
	if conf == language.No {
		return "en"
	}
	return Locales[i]
}

// formatTime shows t in the time zone tz (IANA; UTC when unknown), with the zone's name.
func formatTime(t time.Time, tz string) string {
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "" {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

// messageData is what message templates see.
type messageData struct {
	Time   string
	Device string
	Data   map[string]string
}

// Rendered is a notice in one recipient's locale and time zone.
type Rendered struct {
	Locale, Title, Body string
}

// Render writes the notice n for a recipient with the given stored locale and time zone.
func Render(n Notice, locale, tz string) (Rendered, error) {
	loc := localeOf(locale)
	m, ok := messages[loc][n.Kind]
	if !ok {
		loc, m = "en", messages["en"][n.Kind]
	}
	device := n.Data["device"]
	if device == "" {
		device = layoutStrings[loc]["unknown_device"]
	}
	d := messageData{Time: formatTime(n.OccurredAt, tz), Device: device, Data: n.Data}
	title, err := execText(m.Title, d)
	if err != nil {
		return Rendered{}, err
	}
	body, err := execText(m.Body, d)
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{Locale: loc, Title: title, Body: body}, nil
}

func execText(src string, d messageData) (string, error) {
	t, err := template.New("m").Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", fmt.Errorf("message template: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("message: %w", err)
	}
	return strings.ReplaceAll(b.String(), "<no value>", ""), nil
}

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	textLayout = template.Must(template.ParseFS(templateFS, "templates/email.txt.tmpl"))
	htmlLayout = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/email.html.tmpl"))
)

// layoutData is what the mail layouts see.
type layoutData struct {
	Name, Title, Body, UnsubscribeURL string
	Security                          bool
	S                                 map[string]string
}

// renderMail lays out a rendered notice as text and HTML.
func renderMail(r Rendered, name string, security bool, unsubscribeURL string) (text, html string, err error) {
	d := layoutData{Name: name, Title: r.Title, Body: r.Body, UnsubscribeURL: unsubscribeURL, Security: security, S: layoutStrings[r.Locale]}
	var t, h bytes.Buffer
	if err := textLayout.Execute(&t, d); err != nil {
		return "", "", fmt.Errorf("text layout: %w", err)
	}
	if err := htmlLayout.Execute(&h, d); err != nil {
		return "", "", fmt.Errorf("html layout: %w", err)
	}
	return t.String(), h.String(), nil
}
