"""Text as the agents compare it: accents folded, case folded, split into words.

Works for every script the product supports (Latin, Arabic, Devanagari): a word is a run
of letters, marks and digits, so Hindi vowel signs stay inside their word.
"""

from __future__ import annotations

import unicodedata

# Words that carry no meaning for matching, per role language (normalised below).
_STOPWORDS: dict[str, str] = {
    "en": "a an and are as at be can could do does for from have how i if in is it me my of on "
    "or our please the there this to we what when where which who why will with would "
    "you your hi hello hey thanks thank ok",
    "es": "a al como con cual cuando de del donde el en es esta este hay la las le lo los me mi "
    "por para que se su sus te tu un una y yo usted ustedes puedo puede quiero hola gracias "
    "favor buenas buenos dias",
    "pt_BR": "a ao as com como da das de do dos e em eu esta este existe ha isso me meu minha na "
    "nas no nos o os ou para pela pelo por qual quando que se seu sua um uma voce voces "
    "posso pode quero ola oi obrigado obrigada bom dia",
    "fr": "a au aux avec ce ces comment de des du elle en est et il je la le les ma mes mon ne "
    "nous on ou par pas pour quand que quel quelle qui sur ta te tu un une vous votre "
    "vos puis peux veux sont quels quelles bonjour salut merci svp",
    "de": "am an auf aus bei bitte das dem den der die ein eine einen er es fur hat ich ihr im "
    "in ist kann mein mit sie sind und uns von was wann wer wie wo wir zu zum zur hallo "
    "danke guten tag",
    "it": "a al alla come con da dei del della di dove e il in io la le lo ma mi mio nel per "
    "posso puo qual quale quando che si su un una uno voi vostro ciao grazie buongiorno",
    "id": "ada adalah akan anda apa apakah bagaimana bisa dan dari di ini itu ke kami kapan "
    "mana saya untuk yang dengan atau halo terima kasih",
    "ar": "في من على الى إلى عن ما هل هو هي انا أنا انت أنت كيف متى اين أين و",
    "hi": "का की के है हैं में से को क्या कब कैसे कहाँ मैं आप और यह वह",
}


def normalize(text: str) -> str:
    """Case-folded, with accents and other combining marks removed.

    ``"Qué HORARIO"`` → ``"que horario"``; Arabic hamza and harakat go too (``"أريد"`` →
    ``"اريد"``, as people type it). Indic vowel signs stay: they are letters of the word,
    not accents on it.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept: list[str] = []
    for char in decomposed:
        category = unicodedata.category(char)
        if category == "Mn" and not _base_is_indic(kept):
            continue
        if char == "\u0640":  # Arabic tatweel: stretches a word, means nothing
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _base_is_indic(kept: list[str]) -> bool:
    return bool(kept) and "\u0900" <= kept[-1] <= "\u0dff"


def words(text: str) -> list[str]:
    """The normalised words of ``text``, in order (letters, marks and digits)."""
    normalised = normalize(text)
    spaced = "".join(char if unicodedata.category(char)[0] in "LMN" else " " for char in normalised)
    return spaced.split()


#: The stopwords of each role language, normalised like the words they are compared with.
STOPWORDS: dict[str, frozenset[str]] = {
    language: frozenset(normalize(word) for word in listed.split())
    for language, listed in _STOPWORDS.items()
}


def content_words(text: str, language: str) -> list[str]:
    """``words`` without the language's stopwords (and English's, which customers mix in)."""
    stop = STOPWORDS.get(language, frozenset()) | STOPWORDS["en"]
    # a lone Latin letter is an elision (``d'ouverture``) or a typo, not a topic
    return [w for w in words(text) if w not in stop and not (len(w) == 1 and w.isascii())]


def contains_phrase(text_words: list[str], phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text_words`` as whole words, in order."""
    wanted = words(phrase)
    if not wanted:
        return False
    size = len(wanted)
    return any(text_words[i : i + size] == wanted for i in range(len(text_words) - size + 1))
