// Showing API values to people: money in minor units, enums, minutes of the day, languages.
import { DayOfWeek, LessonMode, Level } from "@gen/tutorhub/v1/tutor_pb";

/** The currencies a tutor may charge in, most common first. */
export const currencies = ["EUR", "USD", "GBP", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "JPY", "BRL", "INR"];

/** Digits after the decimal point of a currency's minor unit (2 for EUR, 0 for JPY). */
export function minorDigits(currency: string): number {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** An amount in minor units as a price, e.g. 3550 EUR as "€35.50". */
export function formatMoney(minor: bigint, currency: string): string {
  if (!currency) return (Number(minor) / 100).toFixed(2);
  const value = Number(minor) / 10 ** minorDigits(currency);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    return `${value} ${currency}`;
  }
}

/** An amount in minor units as the digits a person types, e.g. 3550 EUR as "35.50". */
export function minorToInput(minor: bigint, currency: string): string {
  if (minor === 0n) return "";
  const digits = minorDigits(currency);
  return (Number(minor) / 10 ** digits).toFixed(digits);
}

/**
 * Reads a typed amount into minor units; NaN-free: what is not a number becomes -1n, which
 * the API rejects with a violation on the field.
 */
export function inputToMinor(input: string, currency: string): bigint {
  const text = input.trim().replace(",", ".");
  if (text === "") return 0n;
  if (!/^\d+(\.\d*)?$/.test(text)) return -1n;
  return BigInt(Math.round(Number(text) * 10 ** minorDigits(currency)));
}

/** The time zones a select offers, keeping the current value even if the browser lacks it. */
export function timeZones(current: string): string[] {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : ["UTC"];
  return current && !zones.includes(current) ? [current, ...zones] : zones;
}

/** The browser's own time zone. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Labels of the levels a subject is taught at. */
export const levelLabels: [Level, string][] = [
  [Level.PRIMARY, "Primary"],
  [Level.SECONDARY, "Secondary"],
  [Level.UPPER_SECONDARY, "Upper secondary"],
  [Level.UNDERGRADUATE, "Undergraduate"],
  [Level.POSTGRADUATE, "Postgraduate"],
  [Level.ADULT, "Adult learners"],
];

/** Labels of the lesson modes. */
export const lessonModeLabels: [LessonMode, string][] = [
  [LessonMode.ONLINE, "Online"],
  [LessonMode.IN_PERSON, "In person"],
];

/** Labels of the days, Monday first. */
export const dayLabels: [DayOfWeek, string][] = [
  [DayOfWeek.MONDAY, "Monday"],
  [DayOfWeek.TUESDAY, "Tuesday"],
  [DayOfWeek.WEDNESDAY, "Wednesday"],
  [DayOfWeek.THURSDAY, "Thursday"],
  [DayOfWeek.FRIDAY, "Friday"],
  [DayOfWeek.SATURDAY, "Saturday"],
  [DayOfWeek.SUNDAY, "Sunday"],
];

/** The label paired with a value in one of the tables above. */
export function labelOf<T>(table: [T, string][], value: T): string {
  return table.find(([v]) => v === value)?.[1] ?? String(value);
}

/** Minutes from midnight as "HH:MM" (an <input type="time"> value); 1440 is "24:00". */
export function minuteToTime(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}`;
}

/** "HH:MM" as minutes from midnight; "00:00" as an end of day is 1440 when endOfDay is set. */
export function timeToMinute(time: string, endOfDay = false): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(time);
  if (!m) return -1;
  const minute = Number(m[1]) * 60 + Number(m[2]);
  return endOfDay && minute === 0 ? 1440 : minute;
}

const languageNames = (() => {
  try {
    return new Intl.DisplayNames(undefined, { type: "language" });
  } catch {
    return undefined;
  }
})();

/** A BCP 47 tag as the language's name, e.g. "pt-BR" as "Brazilian Portuguese". */
export function languageName(tag: string): string {
  try {
    return languageNames?.of(tag) ?? tag;
  } catch {
    return tag;
  }
}
