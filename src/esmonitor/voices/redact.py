"""Redaction of personal information in open-text answers, before anything is stored or shown.

What is found, in English and French, and how:

=================  =========================================================================
``phone``          Google's libphonenumber (``phonenumbers``), Canadian numbering, every
                   written form (dots, spaces, brackets, +1, extensions)
``email``          the address pattern
``sin``            Social Insurance Numbers: 9 digits (3-3-3) that pass the Luhn check, or any
                   9 digits right after "SIN" / "NAS"
``health_card``    Ontario health card numbers: 10 digits (4-3-3) with an optional version code
``case_number``    an identifier after a cue ("case #", "file no.", "dossier", "CaMS ID", …)
``address``        a civic number and a street (English street types after the name, French
                   ones before it), with a unit before or after
``postal_code``    Canadian postal codes
``name``           people's names: a first name from a gazetteer of about 45,000 given names
                   (the data of the ``gender-guesser`` package) with the capitalised words that
                   follow it, and any capitalised words after a title or a role ("Mr.",
                   "Mme", "my worker", "la conseillère", "my name is", …)
``employer``       employer names, when the user lists them (``Redactor(employers=...)``)
=================  =========================================================================

No model is downloaded: the gazetteer and the phone metadata come inside their packages. Spans
that overlap are merged, and each is replaced by its type in brackets (``[NAME]``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

TYPES = ("name", "email", "phone", "sin", "health_card", "case_number", "address", "postal_code", "employer")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str


EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
POSTAL = re.compile(r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ -]?\d[ABCEGHJ-NPRSTV-Z]\d\b", re.IGNORECASE)
NINE = re.compile(r"(?<![\d-])(\d{3})[ .-]?(\d{3})[ .-]?(\d{3})(?![\d-])")
# a cue, then up to four short words ("is", "number", "c'est le", …) and no digit before the number
SIN_CUE = re.compile(r"\b(?:SIN|S\.I\.N\.?|NAS|N\.A\.S\.?|social\s+insurance|assurance\s+sociale)"
                     r"(?:[\s:#.,=-]*(?:[^\W\d]{1,8}['’]?)){0,4}?[\s:#.,=-]*$", re.IGNORECASE)
HEALTH = re.compile(r"(?<![\d-])\d{4}[ -]?\d{3}[ -]?\d{3}(?:[ -]?[A-Z]{2})?(?![\w-])")
CASE = re.compile(
    r"\b(?:case|file|client|dossier|cams|caMS|reference|ref|référence|r[ée]f[ée]rence)"
    r"(?:\s+(?:id|no\.?|number|num[ée]ro|#))?\s*(?:#|no\.?|:|n[°o])?\s*"
    r"(?P<id>[A-Z]{0,5}-?\d[\d-]{2,}\d)", re.IGNORECASE)
CASE_FR = re.compile(r"\bnum[ée]ro\s+de\s+(?:dossier|client|cas)\s*(?::|c'est|est)?\s*"
                     r"(?P<id>[A-Z]{0,5}-?\d[\d-]{2,}\d)", re.IGNORECASE)
STREET_EN = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Crescent|Cres|Court|Ct|Lane|Ln|Way|Place|Pl|"
             r"Parkway|Pkwy|Trail|Terrace|Circle|Highway|Hwy|Line|Sideroad|Concession|Gate|Square|Row")
ADDRESS_EN = re.compile(
    rf"(?i:\b(?:apt|apartment|unit|suite)\.?\s*#?\s*\w+,?\s+)?\b\d{{1,6}}[A-Za-z]?,?\s+"
    rf"(?:[A-Z0-9][\w'’.-]*\s+){{1,4}}(?:{STREET_EN})\b\.?(?:\s+(?:East|West|North|South|E|W|N|S)\b\.?)?"
    rf"(?i:,?\s+(?:apt|apartment|unit|suite)\.?\s*#?\s*\w+)?")
ADDRESS_FR = re.compile(
    r"(?:\b(?:app|appartement|app\.|logement)\s*\w+,?\s+)?\b\d{1,6}[A-Za-z]?,?\s+"
    r"(?:rue|avenue|av\.|boulevard|boul\.|bd|chemin|ch\.|route|place|rang|mont[ée]e|c[ôo]te|promenade|croissant|"
    r"all[ée]e|impasse|terrasse|carr[ée]|voie)\s+"
    r"(?:(?:de\s+la|du|des|de|d'|de\s+l')\s*)?[\w'’-]+(?:[ -](?:[A-Z][\w'’-]*|de|du|des|la|le))*"
    r"(?:,?\s+(?:app|appartement|app\.|bureau)\s*\w+)?", re.IGNORECASE)
# rural and postal addresses: rural routes, sites, compartments and boxes, post-office boxes
# (C.P. / case postale), lots and concessions, and civic numbers on a numbered highway or road
_RURAL_PART = r"(?:R\.?\s?R\.?|Rural\s+Route|Site|Comp(?:artment)?\.?|Box|P\.?\s?O\.?\s+Box|Post\s+Office\s+Box|" \
              r"C\.\s?P\.?|CP|Case\s+postale|Lot|Con(?:cession|c)?\.?|Rang)\s*(?:#|no\.?|n[°o])?\s*\d{1,5}[A-Z]?\b"
RURAL = re.compile(
    rf"\b(?:(?:R\.?\s?R\.?|Rural\s+Route|P\.?\s?O\.?\s+Box|Post\s+Office\s+Box|C\.\s?P\.?|Case\s+postale)"
    rf"\s*(?:#|no\.?|n[°o])?\s*\d{{1,5}}[A-Z]?\b|Lot\s*\d{{1,5}}[A-Z]?,?\s*(?:Con(?:cession|c)?\.?|Rang)\s*\d{{1,4}}\b)"
    rf"(?:,?\s*{_RURAL_PART})*", re.IGNORECASE)
ROAD_NUMBER = re.compile(
    r"\b\d{1,6},?\s+(?:Highway|Hwy\.?|County\s+Road|Regional\s+Road|Road|Rd\.?|Sideroad|Concession|Line|"
    r"Route|Autoroute|Chemin)\s+\d{1,4}[A-Z]?\b(?:\s+(?:East|West|North|South|E|W|N|S|Est|Ouest|Nord|Sud)\b\.?)?",
    re.IGNORECASE)
TITLE = (r"(?:mr|mrs|ms|miss|mx|dr|prof|mme|mlle)\.?|(?-i:Me\.?|M\.)|madame|monsieur|mademoiselle|docteur|"
         r"docteure|sir|ma'am")
ROLE = (r"(?:my|our|her|his|their|the)\s+(?:case\s*worker|caseworker|case\s+manager|worker|counsell?or|advisor|"
        r"adviser|coach|job\s+developer|employment\s+specialist|navigator|facilitator|supervisor|manager|boss|"
        r"client|colleague|coworker|co-worker|son|daughter|husband|wife|partner|friend|mentor|contact|staff\s+member)"
        r"|(?:mon|ma|notre|le|la|leur|son|sa)\s+(?:conseill[eè]re?|agente?|intervenante?|coordonnat(?:eur|rice)|"
        r"gestionnaire|superviseure?|patron(?:ne)?|cliente?|coll[eè]gue|fils|fille|mari|femme|conjointe?|amie?|"
        r"mentore?|personne[- ]ressource|responsable|directeur|directrice)"
        r"|(?:named|called|name\s+is|name's|nommée?|appel(?:é|ée)|je\s+m'appelle|[ms]'appel(?:le|ait))")
# cues after which a word is a name only if it looks like one (capitalised, or a given name
# that is not also a common word): "c'est grâce à", "with summer coming", "thanks for"
WEAK_CUE = (r"c'est|signed|sign[ée]|thanks|thank\s+you|merci(?:\s+à)?|from|de\s+la\s+part\s+de|cc|attn|with|"
            r"avec|call|contact|ask\s+for|appelez|appeler|contactez|contacter|demandez|demander")
WORD = r"[A-Za-zÀ-ÖØ-öø-ÿ][\w'’-]*"
# the name is looked at, not consumed, so that a cue inside it ("Mme Gagnon et M. Tremblay") is seen too
AFTER_TITLE = re.compile(rf"\b(?:{TITLE})\s*,?\s+(?=(?P<name>{WORD}(?:\s+{WORD}){{0,2}}))", re.IGNORECASE)
AFTER_ROLE = re.compile(rf"\b(?:{ROLE}|(?:the\s+)?name|nom)\s*[,:]?\s+(?=(?P<name>{WORD}(?:\s+{WORD}){{0,2}}))",
                        re.IGNORECASE)
AFTER_WEAK_CUE = re.compile(rf"\b(?:{WEAK_CUE})\s*[,:]?\s+(?=(?P<name>{WORD}(?:\s+{WORD}){{0,2}}))", re.IGNORECASE)
TOKEN = re.compile(rf"{WORD}", re.UNICODE)
NOT_NAME = {  # capitalised words that follow a cue or a first name without being a name
    "the", "a", "an", "and", "or", "but", "to", "of", "in", "on", "at", "for", "with", "was", "is", "has", "had",
    "who", "that", "this", "it", "he", "she", "they", "we", "i", "you", "me", "him", "her", "them", "us", "my",
    "our", "your", "their", "said", "says", "told", "called", "helped", "help", "did", "does", "not", "never",
    "always", "also", "just", "really", "very", "so", "then", "when", "because", "from", "by", "as", "if",
    "le", "la", "les", "un", "une", "des", "du", "de", "et", "ou", "mais", "à", "au", "aux", "en", "dans", "pour",
    "par", "sur", "avec", "qui", "que", "qu", "il", "elle", "ils", "elles", "nous", "vous", "je", "j",
    "est", "était", "m", "ma", "mon", "mes", "sa", "son", "ses", "leur", "ne", "pas", "plus", "très", "aussi",
    "ontario", "works", "odsp", "ies", "esp", "ssm", "stream", "volet", "canada", "toronto", "ottawa", "hamilton",
    "english", "french", "anglais", "français", "indigenous", "autochtone", "office", "bureau", "team", "équipe",
    "everyone", "tout", "tous", "manager", "worker", "counsellor", "counselor", "conseiller", "conseillère", "agent",
    "mr", "mrs", "ms", "miss", "dr", "prof", "mme", "mlle", "madame", "monsieur", "mademoiselle", "sir",
}
CAPITALISED = re.compile(r"^[A-ZÀ-ÖØ-Þ]")
PERSON_VERBS = frozenset((
    "gave", "said", "says", "told", "tells", "called", "calls", "helped", "helps", "emailed", "sent", "asked",
    "asks", "explained", "showed", "found", "got", "was", "has", "had", "did", "took", "wrote", "texted",
    "phoned", "spoke", "listened", "answered", "replied", "referred", "booked", "m'a", "m’a", "nous", "était",
    "a", "m'avait", "m'appelle", "dit", "m'écrit", "m'a-t-elle", "appelle", "aide", "aidé"))
#: Particles inside a family name ("Mariana de la Fuente", "Pieter Van der Berg").
PARTICLES = frozenset(("de", "la", "du", "des", "del", "della", "di", "da", "dos", "van", "von", "der", "den", "ter",
                       "le", "bin", "ibn", "al", "el", "ben"))
#: What follows a word that is also a name when it is a person: "Grace from the centre", "Frank
#: at the front desk", "Will (my job developer)", "Pierre, mon conseiller", "Claire de l'agence".
PERSON_AFTER = re.compile(
    r"\s*(?:\(\s*(?:my|our|the|mon|ma|notre|la|le)\b|,\s*(?:my|our|the|mon|ma|notre|who|qui)\b"
    r"|\s(?:from|at|of)\s+(?:the|my|our|[A-Z])|\s(?:de|du|des|à)\s+(?:la|l['’]|mon|ma|notre|[A-Z]))",
    re.IGNORECASE)
CALENDAR = frozenset((
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december", "summer", "winter", "autumn", "spring", "ete", "hiver", "automne", "printemps", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", "janvier", "fevrier",
    "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre", "novembre", "decembre", "lundi",
    "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "christmas", "easter", "noel", "paques"))
ONTARIO_PLACES = (  # words of place names a given-name gazetteer would otherwise take for names
    "Thunder Bay", "North Bay", "Sault Ste. Marie", "Owen Sound", "Parry Sound", "Niagara Falls", "St. Catharines",
    "Kingston", "London", "Windsor", "Sudbury", "Timmins", "Kenora", "Barrie", "Guelph", "Brampton", "Mississauga",
    "Oshawa", "Peterborough", "Belleville", "Cornwall", "Brantford", "Stratford", "Orillia", "Huntsville",
    "Haliburton", "Lindsay", "Cobourg", "Pembroke", "Hawkesbury", "Kapuskasing", "Hearst", "Elliot Lake",
    "Wawa", "Dryden", "Fort Frances", "Sioux Lookout", "Moosonee", "Attawapiskat", "Chatham", "Sarnia",
    "Woodstock", "Simcoe", "Welland", "Milton", "Markham", "Vaughan", "Richmond Hill", "Pickering", "Ajax",
    "Whitby", "Scarborough", "Etobicoke", "North York", "Orangeville", "Collingwood", "Midland", "Bracebridge",
    "Gravenhurst", "Temiskaming", "Cochrane", "Iroquois Falls", "Marathon", "Geraldton", "Nipigon", "Red Lake",
    "Bruce", "Grey", "Huron", "Perth", "Lambton", "Kent", "Essex", "Durham", "York", "Peel", "Halton", "Wellington",
    "Waterloo", "Stormont", "Dundas", "Glengarry", "Prescott", "Russell", "Lanark", "Leeds", "Grenville",
    "Frontenac", "Hastings", "Renfrew", "Nipissing", "Muskoka", "Kawartha", "Kawarthas", "Simcoe", "Dufferin",
    "Norfolk", "Haldimand", "Oxford", "Elgin", "Middlesex", "Victoria", "Algoma", "Manitoulin", "Rainy River",
    "Ontario", "Canada", "Québec", "Quebec", "Toronto", "Ottawa", "Hamilton", "Niagara",
)


@lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    """Words of Ontario place names (the catchments' names in both languages and the main
    municipalities and counties): never read as a given name."""
    from esmonitor.model.reference import catchments

    text = " ".join([*ONTARIO_PLACES, *(c.name_en for c in catchments()), *(c.name_fr for c in catchments())])
    return frozenset(fold(w) for w in TOKEN.findall(text) if len(w) > 2)


@lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    """About 45,000 given names (lower case), from the ``gender-guesser`` package's data file."""
    names: set[str] = set()
    data = resources.files("gender_guesser") / "data" / "nam_dict.txt"
    with data.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line[:1] in "#=" or len(line) < 30:
                continue
            parts = line.split()
            if len(parts) < 2 or "<" in parts[1] or "?" in parts[1] or "\ufffd" in parts[1]:
                continue
            for part in re.split(r"[+ ]", parts[1]):
                if len(part) >= 2:
                    names.add(fold(part))
    return frozenset(names - NOT_NAME)


#: Columns of a survey export that identify a respondent or their device (beyond the direct
#: identifiers the ingest knows: names, e-mail, phone, SIN …): IP addresses, the tools' response
#: and respondent ids, access tokens. Folded as headers are.
RESPONDENT_COLUMNS = frozenset({"ipaddr", "ip_address", "ipaddress", "responseid", "response_id",
                                "respondent_id", "respondentid", "token", "uuid", "collector_id",
                                "recipientemail", "recipient_email", "recipientfirstname", "recipientlastname",
                                "externalreference", "external_reference", "locationlatitude",
                                "locationlongitude", "location_latitude", "location_longitude"})


def identifier_columns(headers: Iterable[str]) -> list[str]:
    """The columns of an answers file to drop before anything is kept: direct identifiers (as
    the ingest finds them) and the survey tools' respondent and device columns."""
    from esmonitor.ingest.columns import is_direct_identifier, normalise_header

    return [h for h in headers if is_direct_identifier(h) or normalise_header(h) in RESPONDENT_COLUMNS]


class Redactor:
    """Finds and replaces personal information. ``employers``: names to remove as well."""

    def __init__(self, employers: Iterable[str] = (), extra_names: Iterable[str] = ()) -> None:
        self.names = (given_names() - place_words() - CALENDAR) | {fold(n) for n in extra_names}
        employers = sorted({e.strip() for e in employers if e.strip()}, key=len, reverse=True)
        self.employers = re.compile("|".join(rf"\b{re.escape(e)}\b" for e in employers), re.IGNORECASE) \
            if employers else None

    def spans(self, text: str) -> list[Span]:
        """Every span to remove, merged where they overlap (the first type found wins)."""
        found: list[Span] = []
        found += [Span(m.start(), m.end(), "email") for m in EMAIL.finditer(text)]
        found += self._phones(text)
        found += self._nine_digits(text)
        found += [Span(m.start(), m.end(), "health_card") for m in HEALTH.finditer(text)]
        for pattern in (CASE, CASE_FR):
            found += [Span(m.start("id"), m.end("id"), "case_number") for m in pattern.finditer(text)]
        for pattern in (ADDRESS_EN, ADDRESS_FR, RURAL, ROAD_NUMBER):
            found += [Span(m.start(), m.end(), "address") for m in pattern.finditer(text)]
        found += [Span(m.start(), m.end(), "postal_code") for m in POSTAL.finditer(text)]
        if self.employers is not None:
            found += [Span(m.start(), m.end(), "employer") for m in self.employers.finditer(text)]
        found += self._names(text)
        return _merge(found)

    def redact(self, text: str) -> str:
        out, last = [], 0
        for s in self.spans(text):
            out += [text[last:s.start], f"[{s.type.upper()}]"]
            last = s.end
        return "".join([*out, text[last:]])

    def _lowercase_names(self, text: str, tokens: list[re.Match[str]]) -> list[Span]:
        """A given name written in lower case ('especially emily and josh'), unless the word is
        also a common English or French word or a function word; with the family name after it
        ('emily tremblay'). A given name that is also a word ('grace', 'frank') is one only when a
        known family name follows ('grace williams')."""
        out = []
        for i, t in enumerate(tokens):
            word = _bare(t.group())
            if not (word.islower() and len(word) >= 3 and self._is_given(word)) or fold(word) in function_words():
                continue
            nxt = tokens[i + 1] if i + 1 < len(tokens) and _next_to(text, t, tokens[i + 1]) else None
            family = nxt is not None and _family_name(_bare(nxt.group()))
            if fold(word) in common_words() and not (family and nxt is not None
                                                     and fold(_bare(nxt.group())) in surnames()):
                continue
            end = nxt.start() + len(_bare(nxt.group())) if family and nxt is not None else t.start() + len(word)
            out.append(Span(t.start(), end, "name"))
        return out

    def _capitalised_pairs(self, text: str, tokens: list[re.Match[str]]) -> list[Span]:
        """Two or three capitalised words in a row that are neither places, common words nor
        acronyms ('Oluwaseun Adeyemi'): read as a name even when the gazetteer does not know them."""
        out = []
        for a, b in itertools.pairwise(tokens):
            first, second = _bare(a.group()), _bare(b.group())
            if text[a.end():b.start()] != " " or not _proper(first) or not _proper(second):
                continue
            if _is_sentence_word(text, a) or (fold(first) in common_words() and _at_start(text, a)):
                continue
            out.append(Span(a.start(), b.start() + len(second), "name"))
        return out

    def _is_given(self, token: str) -> bool:
        """A given name (Jean-François through its first part)."""
        return _split_given(self.names, token)

    # -- detectors ----------------------------------------------------------------------------
    @staticmethod
    def _phones(text: str) -> list[Span]:
        import phonenumbers

        matcher = phonenumbers.PhoneNumberMatcher(text, "CA", leniency=phonenumbers.Leniency.POSSIBLE)
        out = []
        for m in matcher:
            end = m.end
            ext = re.match(r"\s*(?:ext\.?|extension|x|poste)\s*\d{1,6}", text[end:], re.IGNORECASE)
            if ext:
                end += ext.end()
            out.append(Span(m.start, end, "phone"))
        return out

    @staticmethod
    def _nine_digits(text: str) -> list[Span]:
        out = []
        for m in NINE.finditer(text):
            digits = "".join(m.groups())
            cue = SIN_CUE.search(text[max(0, m.start() - 40):m.start()])
            if cue or _luhn(digits):
                out.append(Span(m.start(), m.end(), "sin"))
        return out

    def _names(self, text: str) -> list[Span]:
        """People's names: after a title (always), after another cue, and from the gazetteer,
        capitalised pairs and lower-case given names, unless inside a proper name that is not a
        person's (a programme, an employer, a holiday, a place: ``data/not_people.txt``)."""
        protected = [(m.start(), m.end()) for m in not_people().finditer(text)]

        def kept(span: Span) -> bool:
            return not any(span.start < b and span.end > a for a, b in protected)

        titled = self._cued_names(text, AFTER_TITLE.finditer(text), "title")
        others = (self._cued_names(text, AFTER_ROLE.finditer(text), "role")
                  + self._cued_names(text, AFTER_WEAK_CUE.finditer(text), "weak") + self._uncued_names(text))
        return titled + [s for s in others if kept(s)]

    def _cued_names(self, text: str, cues: Iterable[re.Match[str]], cue: str) -> list[Span]:
        """Names after a cue. After a title the next word is a name whatever its case; after a
        role ("my counsellor june") a given name in lower case is one too, even a month's;
        after a weak cue ("c'est", "with", "thanks") only a word that looks like a name."""
        out = []
        for m in cues:
            words = list(TOKEN.finditer(m.group("name")))
            kept = []
            for i, w in enumerate(words):
                token = _bare(w.group())
                folded = fold(token)
                if token.lower() in NOT_NAME or (folded in CALENDAR and (cue != "role" or token[:1].isupper())):
                    break
                if cue == "weak":
                    looks = (CAPITALISED.match(token) is not None and folded not in function_words()) or \
                        (self._is_given(token) and folded not in common_words())
                else:
                    looks = CAPITALISED.match(token) is not None or self._is_given(token) or \
                        (cue == "role" and i == 0 and folded in given_names()) or (i == 0 and cue == "title")
                if not looks:
                    break
                kept.append(w)
            if kept:
                base = m.start("name")
                out.append(Span(base + kept[0].start(), base + kept[0].start() + len(_span_text(kept)), "name"))
        return out

    def _uncued_names(self, text: str) -> list[Span]:
        out: list[Span] = []
        tokens = list(TOKEN.finditer(text))
        out += self._lowercase_names(text, tokens)
        out += self._capitalised_pairs(text, tokens)
        i = 0
        while i < len(tokens):
            token = _bare(tokens[i].group())
            if CAPITALISED.match(token) and self._is_given(token) and not _is_sentence_word(text, tokens[i]) \
                    and not _acronym(token):
                j = i + 1
                while j < len(tokens) and j - i < 4 and _next_to(text, tokens[j - 1], tokens[j]):
                    nxt = _bare(tokens[j].group())
                    if nxt.lower() in PARTICLES:  # "de la Fuente", "Van der Berg": on to a capitalised word
                        k = j
                        while k < len(tokens) and _bare(tokens[k].group()).lower() in PARTICLES \
                                and _next_to(text, tokens[k - 1], tokens[k]):
                            k += 1
                        if k < len(tokens) and _next_to(text, tokens[k - 1], tokens[k]) \
                                and CAPITALISED.match(tokens[k].group()) and tokens[k].group().lower() not in NOT_NAME:
                            j = k + 1
                            continue
                        break
                    if not CAPITALISED.match(nxt) or nxt.lower() in NOT_NAME:
                        break
                    j += 1
                start = tokens[i].start()
                out.append(Span(start, start + len(_span_text(tokens[i:j])), "name"))
                i = j
                continue
            i += 1
        return out


def fold(word: str) -> str:
    """Lower case without accents (Émilie -> emilie)."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


def _split_given(names: frozenset[str], token: str) -> bool:
    """A given name, or a compound one ("Jean-François", "Rose-Marie"): a given name before a
    hyphen, then capitalised words or given names ("demi-journée", "won't" are not names)."""
    folded = fold(token)
    if folded in names:
        return True
    parts, folded_parts = token.split("-"), folded.split("-")
    return (len(parts) > 1 and folded_parts[0] in names and len(parts[0]) > 2
            and all(p[:1].isupper() or f in names for p, f in zip(parts[1:], folded_parts[1:], strict=True)))


def _proper(word: str) -> bool:
    """Capitalised, not all capitals, at least two letters, and not a place or common word."""
    low = fold(word)
    return (len(word) >= 2 and bool(CAPITALISED.match(word)) and not word.isupper() and word.lower() not in NOT_NAME
            and low not in place_words() and low not in common_words() and low not in function_words()
            and low not in lexicon())


@lru_cache(maxsize=1)
def function_words() -> frozenset[str]:
    """English and French function words (scikit-learn's English list and esmonitor's French)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from esmonitor.voices.language import french_stop_words

    return frozenset(fold(w) for w in [*ENGLISH_STOP_WORDS, *french_stop_words()])


def _acronym(word: str) -> bool:
    """A short word in capitals ('SIN', 'ODSP', 'NAS'): an acronym, not a name."""
    return word.isupper() and len(word) <= 4


def _at_start(text: str, token: re.Match[str]) -> bool:
    before = text[:token.start()].rstrip()
    return not before or before[-1] in ".!?:;\n\"“«-•*("


def _is_title(m: re.Match[str]) -> bool:
    return re.match(rf"(?:{TITLE})\b", m.group(0), re.IGNORECASE) is not None


def _bare(token: str) -> str:
    """A token without a possessive ending (Ahmed's -> Ahmed)."""
    return re.sub(r"['’]s$", "", token)


def _span_text(words: Sequence[re.Match[str]]) -> str:
    """The text from the first word to the end of the last one, possessive ending excluded."""
    first, last = words[0], words[-1]
    whole = last.string[first.start():last.end()]
    return whole[: len(whole) - (len(last.group()) - len(_bare(last.group())))]


def _next_to(text: str, a: re.Match[str], b: re.Match[str]) -> bool:
    return text[a.end():b.start()] in (" ", "-")


@lru_cache(maxsize=1)
def lexicon() -> frozenset[str]:
    """The 10,000 most common English and French words each (``data/lexicon.txt``): two
    capitalised words in a row are read as a name only when neither is an ordinary word."""
    return _word_list("lexicon.txt")


@lru_cache(maxsize=1)
def not_people() -> re.Pattern[str]:
    """Proper names that are not people's (``data/not_people.txt``), longest first, whole words,
    case and accents of the text as written (both spellings are listed where they differ)."""
    text = (resources.files("esmonitor.voices") / "data" / "not_people.txt").read_text("utf-8")
    phrases = sorted({line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")},
                     key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in phrases)
    return re.compile(rf"(?<![\w'’-])(?:{body})(?![\w-])", re.IGNORECASE)


def _word_list(name: str) -> frozenset[str]:
    text = (resources.files("esmonitor.voices") / "data" / name).read_text("utf-8")
    return frozenset(fold(w) for w in text.split("\n") if w and not w.startswith("#"))


@lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    """Family names common in Ontario and Quebec that are not also ordinary words (``data/surnames.txt``)."""
    return _word_list("surnames.txt")


def _family_name(word: str) -> bool:
    """A lower-case word after a given name that is a family name: a known one, or a word that is
    not an ordinary English or French word ('tremblay', 'adeyemi'; not 'and', 'was', 'helped')."""
    folded = fold(word)
    if not word.islower() or len(word) < 2 or folded in function_words() or folded in NOT_NAME:
        return False
    return folded in surnames() or (len(word) >= 3 and word.isalpha() and folded not in lexicon()
                                    and folded not in common_words() and folded not in place_words())


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Common English and French words that are also given names (``data/common_words.txt``)."""
    return _word_list("common_words.txt")


def _is_sentence_word(text: str, token: re.Match[str]) -> bool:
    """A capitalised common word at the start of a sentence that also happens to be a given name
    ('Will', 'May', 'Grace'): read as a name only when a capitalised word follows (a surname)."""
    if fold(_bare(token.group())) not in common_words():
        return False
    if not _at_start(text, token):
        return False
    rest = text[token.end():]
    following = TOKEN.match(rest.lstrip())
    if following and following.group().lower() in PERSON_VERBS:
        return False  # "Grace gave me a card", "Will said ...": someone doing something
    if PERSON_AFTER.match(rest):
        return False  # "Grace from the centre", "Will (my job developer)", "Claire, ma conseillère"
    nxt = TOKEN.match(rest.lstrip())
    return not (nxt and rest[:1] == " " and CAPITALISED.match(nxt.group()) and nxt.group().lower() not in NOT_NAME)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0 and digits != "000000000"


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and s.start <= out[-1].end:
            last = out[-1]
            if s.end > last.end:
                out[-1] = Span(last.start, s.end, last.type)
            continue
        out.append(s)
    return out
