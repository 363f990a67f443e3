"""What the built-in agent says when it has nothing better, in each supported language."""

from __future__ import annotations

#: When no knowledge entry matches (and it is not the first message, or there is no greeting).
FALLBACK = {
    "en": "Thanks for your message! I'm not sure I can answer that. Could you rephrase it, "
    'or write "human" to talk to a person?',
    "es": "¡Gracias por tu mensaje! No estoy seguro de poder responder a eso. ¿Puedes "
    'reformularlo, o escribir "humano" para hablar con una persona?',
    "pt_BR": "Obrigado pela sua mensagem! Não tenho certeza se posso responder a isso. Pode "
    'reformular, ou escrever "humano" para falar com uma pessoa?',
    "fr": "Merci pour votre message ! Je ne suis pas sûr de pouvoir répondre à cela. Pouvez-vous "
    "reformuler, ou écrire « humain » pour parler à une personne ?",
    "de": "Danke für Ihre Nachricht! Darauf habe ich leider keine sichere Antwort. Können Sie "
    "es anders formulieren oder „Mensch“ schreiben, um mit einer Person zu sprechen?",
    "it": "Grazie per il tuo messaggio! Non sono sicuro di poter rispondere. Puoi riformulare, "
    'o scrivere "umano" per parlare con una persona?',
    "ar": "شكرًا على رسالتك! لست متأكدًا من أنني أستطيع الإجابة عن ذلك. هل يمكنك إعادة صياغة "
    "سؤالك، أو كتابة «موظف» للتحدث مع شخص؟",
    "hi": "आपके संदेश के लिए धन्यवाद! मुझे यकीन नहीं है कि मैं इसका उत्तर दे सकता हूँ। क्या आप "
    'इसे दूसरे शब्दों में लिख सकते हैं, या किसी व्यक्ति से बात करने के लिए "इंसान" लिख सकते हैं?',
    "id": "Terima kasih atas pesan Anda! Saya belum yakin bisa menjawabnya. Bisakah Anda "
    'menuliskannya dengan cara lain, atau tulis "manusia" untuk berbicara dengan petugas?',
}

#: After a hand-off keyword: the conversation now waits for a person.
HANDOFF_ACKNOWLEDGEMENT = {
    "en": "Thanks! I'm handing you over to a member of our team, who will reply here shortly.",
    "es": "¡Gracias! Te paso con una persona de nuestro equipo, que te responderá aquí en breve.",
    "pt_BR": "Obrigado! Vou passar você para alguém da nossa equipe, que responderá aqui em breve.",
    "fr": "Merci ! Je vous mets en relation avec un membre de notre équipe, qui vous répondra "
    "ici sous peu.",
    "de": "Danke! Ich übergebe an eine Person aus unserem Team, die Ihnen hier in Kürze antwortet.",
    "it": "Grazie! Ti passo a una persona del nostro team, che ti risponderà qui a breve.",
    "ar": "شكرًا! سأحوّلك إلى أحد أعضاء فريقنا، وسيرد عليك هنا قريبًا.",
    "hi": "धन्यवाद! मैं आपको हमारी टीम के एक सदस्य से जोड़ रहा हूँ, जो जल्द ही यहाँ जवाब देंगे।",
    "id": "Terima kasih! Saya akan meneruskan Anda ke anggota tim kami, yang akan segera "
    "membalas di sini.",
}


def fallback(language: str) -> str:
    return FALLBACK.get(language, FALLBACK["en"])


def handoff_acknowledgement(language: str) -> str:
    return HANDOFF_ACKNOWLEDGEMENT.get(language, HANDOFF_ACKNOWLEDGEMENT["en"])
