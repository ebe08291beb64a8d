package server

import (
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/tutors"
)

const defaultTutorPageSize = 20

// enum is a protobuf enum such as tutorhubv1.Level.
type enum interface {
	~int32
	protoreflect.Enum
}

// enumName is the domain's name of an enum value: LEVEL_UPPER_SECONDARY is
// "upper_secondary"; the unspecified value is "".
func enumName[E enum](e E) string {
	if e == 0 {
		return ""
	}
	values := e.Descriptor().Values()
	v := values.ByNumber(protoreflect.EnumNumber(e))
	if v == nil {
		return "unknown"
	}
	prefix := strings.TrimSuffix(string(values.ByNumber(0).Name()), "UNSPECIFIED")
	return strings.ToLower(strings.TrimPrefix(string(v.Name()), prefix))
}

// enumValue is the enum value a domain name stands for (enumName's inverse); unknown names
// are the unspecified value.
func enumValue[E enum](name string) E {
	var zero E
	prefix := strings.TrimSuffix(string(zero.Descriptor().Values().ByNumber(0).Name()), "UNSPECIFIED")
	v := zero.Descriptor().Values().ByName(protoreflect.Name(prefix + strings.ToUpper(name)))
	if v == nil || name == "" {
		return zero
	}
	return E(v.Number())
}

// profileFromProto converts a request's profile; values out of range become values that
// the domain's validation rejects.
func profileFromProto(pb *tutorhubv1.TutorProfile) tutors.Profile {
	p := tutors.Profile{
		Headline:        pb.GetHeadline(),
		Bio:             pb.GetBio(),
		HourlyRateMinor: pb.GetHourlyRateMinor(),
		Currency:        pb.GetCurrency(),
		Languages:       append([]string{}, pb.GetLanguages()...),
		LessonModes:     []string{},
		TimeZone:        pb.GetTimeZone(),
		Subjects:        []tutors.Subject{},
		Availability:    []tutors.Slot{},
	}
	for _, s := range pb.GetSubjects() {
		id, _ := uuid.Parse(s.GetSubjectId())
		ts := tutors.Subject{SubjectID: id, Levels: []string{}}
		for _, l := range s.GetLevels() {
			ts.Levels = append(ts.Levels, enumNameOrInvalid(l))
		}
		p.Subjects = append(p.Subjects, ts)
	}
	for _, m := range pb.GetLessonModes() {
		p.LessonModes = append(p.LessonModes, enumNameOrInvalid(m))
	}
	for _, a := range pb.GetAvailability() {
		p.Availability = append(p.Availability, tutors.Slot{Day: int32(a.GetDayOfWeek()), Start: a.GetStartMinute(), End: a.GetEndMinute()})
	}
	return p
}

// enumNameOrInvalid is enumName, with a name no domain list holds for the unspecified value.
func enumNameOrInvalid[E enum](e E) string {
	if n := enumName(e); n != "" {
		return n
	}
	return "unspecified"
}

// tutorProto renders a tutor.
func tutorProto(t tutors.Tutor) *tutorhubv1.Tutor {
	p := t.Profile
	pb := &tutorhubv1.TutorProfile{
		Headline: p.Headline, Bio: p.Bio, HourlyRateMinor: p.HourlyRateMinor, Currency: p.Currency,
		Languages: p.Languages, TimeZone: p.TimeZone,
	}
	for _, s := range p.Subjects {
		ts := &tutorhubv1.TutorSubject{SubjectId: s.SubjectID.String()}
		for _, l := range s.Levels {
			ts.Levels = append(ts.Levels, enumValue[tutorhubv1.Level](l))
		}
		pb.Subjects = append(pb.Subjects, ts)
	}
	for _, m := range p.LessonModes {
		pb.LessonModes = append(pb.LessonModes, enumValue[tutorhubv1.LessonMode](m))
	}
	for _, a := range p.Availability {
		pb.Availability = append(pb.Availability, &tutorhubv1.AvailabilitySlot{DayOfWeek: tutorhubv1.DayOfWeek(a.Day), StartMinute: a.Start, EndMinute: a.End})
	}
	return &tutorhubv1.Tutor{
		Id: t.ID.String(), UserId: t.UserID.String(), DisplayName: t.DisplayName, Profile: pb,
		Published: t.Published, Version: t.Version,
		CreateTime: timestamppb.New(t.CreatedAt), UpdateTime: timestamppb.New(t.UpdatedAt),
		AvatarUploadId: nullUUIDString(t.AvatarUploadID),
	}
}

// nullUUIDString is id as text, or "" when there is none.
func nullUUIDString(id uuid.NullUUID) string {
	if !id.Valid {
		return ""
	}
	return id.UUID.String()
}
