"""Lexical rules for the systemic categories: anaphylaxis, sepsis, major bleeding, self-harm, collapse or
seizure, uncontrolled pain and undifferentiated shock. Same conventions as rules.py (patterns on the
normalised text; a rule says what was said, the context module decides whether it is current).
"""

from __future__ import annotations

from .findings import TRIGGER, near

HYPOTENSION = (
    r"(?<!mild )(?<!slight )(?<!transient )(?<!brief )\bhypotensi\w*|\bshock(?:ed)?\b|\bperi-?arrest\b|"
    r"\bcold peripher\w*|\bmottl\w*|"
    r"\b(?:blood pressure|systolic)(?: is)? (?:soft|dropping|dropped|falling|fell|crashing|low)\b|"
    r"\bdropped (?:his |her |the )?blood pressure\b|\bcrashing\b|"
    r"\b(?:his|her|their|the) pressures? (?:is |are )?(?:falling|dropping|low|crashing|dropped)\b"
)

SYSTEMIC_RULES = [
    # --- anaphylaxis ---------------------------------------------------------------------------------
    ("anaphylaxis", "anaphylaxis / angioedema", TRIGGER,
     r"\banaphyla\w*|\bangio-?edema\b|\btongue (?:feels )?thick\b|\bthick tongue\b"),
    ("anaphylaxis", "airway or facial swelling", TRIGGER,
     near(r"lips?|tongue|face|facial|throat|mouth|airway|eyelids?",
          r"swell\w*|swollen|edema|tight\w*|closing|puff\w*", 3)
     + r"|\bhoarse (?:voice )?(?:after|since|following)\b|\bhoarse voice\b"),
    ("anaphylaxis", "urticaria or flushing", "feature:allergy",
     r"\bhives\b|\burticari\w*|\b(?:widespread|generali[sz]ed|all over) (?:rash|itch\w*)|\brash all over\b|"
     r"\bflush\w*|\bitch\w*|\bpruritus\b"),
    ("anaphylaxis", "allergic reaction", "feature:allergy",
     r"\ballergic reaction\b|\breact(?:ing|ion) to\b"),
    ("anaphylaxis", "wheeze", "feature:wheeze", r"\bwheez\w*|\bbronchospasm\b"),
    ("anaphylaxis", "presyncope", "feature:presyncope",
     r"\b(?:feels?|feeling) faint\b|\bdizzy\b|\blight-?headed\b"),
    # --- sepsis --------------------------------------------------------------------------------------
    ("sepsis_unstable", "septic shock named", TRIGGER,
     r"\bseptic shock\b|\bred flag sepsis\b|\bneutropenic sepsis\b|\bnon-?blanching (?:rash|spots)\b|"
     r"\bpurpur\w*|\bmeningococcal\b|"
     + near(r"fever\w*|febrile|temperature", r"neck stiff\w*|stiff neck", 4)),
    ("sepsis_unstable", "infection", "feature:infection",
     r"\bfever\w*|\bfebrile\b|\bpyrex\w*|\bspik(?:ing|ed)\b|\brigou?rs\b|\bsepsis\b|\bseptic\b|\binfect\w*|"
     r"\bpus\b|\bpurulent\b|\bcellulitis\b|\bpneumonia\b|\buti\b|\burosepsis\b|\bdiscitis\b|\babscess\b|"
     r"\bneutropeni\w*"),
    ("sepsis_unstable", "confusion", "feature:confusion",
     r"\bconfus\w*|\bdrowsy\b|\baltered mental\b|\bdelirious\b"),
    ("sepsis_unstable", "oliguria", "feature:oliguria",
     r"\breduced urine output\b|\boligur\w*|\bnot passed urine\b"),
    ("sepsis_unstable", "looks unwell", "feature:unwell",
     r"\blooks? (?:very )?unwell\b|\bseptic looking\b|\blooks? septic\b"),
    ("sepsis_unstable", "tachycardia", "feature:instability", r"\btachycardi\w*"),
    # --- major bleeding ------------------------------------------------------------------------------
    ("major_bleeding", "haematemesis", TRIGGER,
     r"\bhematemesis\b|\bvomit\w* (?:up )?(?:\w+ ){0,3}?(?:blood|clots)\b|"
     r"\bthrowing up (?:\w+ ){0,3}?blood\b|"
     r"\bcoffee[- ]ground"),
    ("major_bleeding", "melaena", TRIGGER,
     r"\bmelena\b|\bblack (?:tarry )?(?:stools?|poo)\b|\bblood in (?:the |his |her )?vomit\b|"
     r"\b(?:dark|fresh|bright red) blood (?:per rectum|from (?:his|her) back passage)\b"),
    ("major_bleeding", "heavy bleeding", TRIGGER,
     r"\b(?:bleeding|bleed|hemorrhag\w*|oozing)\b "
     r"(?:heavily|a lot|profusely|massively|won't stop|not stopping|"
     r"continues|uncontroll\w*)|"
     r"\b(?:heavy|heavily|massive|major|brisk|torrential|uncontrol+\w*|ongoing|active|significant|large)\b "
     r"(?:\w+ )?(?:bleeding|bleed|hemorrhage|blood loss|epistaxis)\b|"
     r"\bsoaked (?:with|in|through with) blood\b|\bblood-?soaked\b|"
     r"\bsoak\w* (?:through )?(?:\w+ ){0,2}(?:pads?|dressings?|sheets?|towels?) (?:with|"
     r"in) (?:fresh )?blood\b|"
     r"\b(?:rapidly )?(?:expanding|enlarging|growing) (?:swelling|lump|mass) at the (?:puncture|access|"
     r"wound|injection) site\b|"
     r"\bstill bleeding\b|\bblood (?:is |was )?(?:pouring|gushing|spurting|pumping|streaming)\b|"
     r"\bbleed\w*\b[^.;?!]{0,40}\bdespite (?:\w+ ){0,4}pressure\b|"
     r"\bsoaking (?:through )?(?:the )?(?:dressings?|pads?)|"
     r"\bpassing clots\b|\bhemorrhage\b|\bhemorrhaging\b|\bretroperitoneal (?:bleed|hematoma|hemorrhage)\b|"
     r"\b(?:large|big|huge|lots of|significant|massive|copious) (?:amounts?|volumes?|quantit(?:y|ies)) of "
     r"(?:\w+ ){0,3}?blood\b|\blots of (?:fresh |frank )?blood\b|\bpool of blood\b|"
     r"\bblood everywhere\b|\bbleeding (?:through|into) (?:every|the|all|multiple|several) (?:dressings?|"
     r"pads?)|"
     r"\bbleeding out\b|\bbig bleed\b|\bfresh blood (?:per rectum|pr|from the|in the stool)|"
     r"\bblood per rectum\b|"
     r"\b(?:expanding|enlarging|growing|rapidly swelling) hematoma\b|\bpph\b|"
     r"\bhematoma\b[^.;?!]{0,30}\b(?:getting bigger|growing|expanding|enlarging|increasing in size)\b|"
     r"\bfrom (?:his|her|their|the) back passage\b|"
     r"\bbleed\w*\b[^.;?!]{0,25}\bwon't stop\b"),
    ("major_bleeding", "GI or PV bleed named", TRIGGER,
     r"\b(?:rectal|vaginal|gastrointestinal|upper gastrointestinal|lower gastrointestinal|variceal) "
     r"bleed\w*"),
    ("major_bleeding", "bleeding", "feature:bleeding",
     r"\bbleed\w*|\bblood loss\b|\bepistaxis\b|\boozing\b|\bhemoglobin (?:falling|dropping|dropped|drop)\b"),
    ("major_bleeding", "pallor or sweating", "feature:pallor",
     r"\bpale\b|\bpallor\b|\bsweat(?:ing|y)\b|\bclammy\b"),
    # --- self-harm -----------------------------------------------------------------------------------
    ("self_harm", "suicidal intent or self-harm", TRIGGER,
     r"\bsuicid\w*|\bkill (?:him|her|my|them|your)sel(?:f|ves)\b|\bend (?:his|her|my|their) (?:own )?life\b|"
     r"\bend it all\b|\btake (?:his|her|my|their) (?:own )?life\b|\bwants? to die\b|"
     r"\b(?:doesn't|does not|don't|do not) want to (?:live|be alive|go on)\b|\brather (?:be dead|die)\b|"
     r"\bbetter off dead\b|\bno point (?:in )?(?:going on|living|carrying on)\b|\boverdos\w*|"
     r"\bself[- ]harm\w*|"
     r"\bcuts? (?:to|on) (?:his |her |their |the )?(?:wrists?|arms?|forearms?)\b|"
     r"\bcut (?:his|her|their) (?:own )?(?:wrists?|arms?|forearms?|legs?|thighs?|throat)\b|"
     r"\bhang (?:himself|herself|themselves)\b|\bthreatening to (?:jump|kill|harm|hurt)\b|"
     r"\b(?:saving up|stockpil\w*|hoard\w*) (?:his |her |their |all )?(?:\w+ )?(?:tablets|pills|"
     r"medications?|meds|"
     r"\w+)\b|\b(?:plans?|planning|going|intends?|intending) to take (?:it|them|everything) all\b|"
     r"\btake (?:it|them) all (?:at once|tonight|together|in one go)\b|"
     r"\b(?:tried|trying|attempted|attempting|threatened|threatening) to (?:strangle|hang|kill|harm|hurt|cut|"
     r"stab|suffocate|poison|drown|shoot|burn) (?:himself|herself|themselves)\b|"
     r"\b(?:strangl|cut|stab|suffocat|poison|drown|shoot|burn)\w* (?:himself|herself|themselves)\b|"
     r"\bligature\b|\bempty (?:\w+ ){0,2}(?:packets?|bottles?|boxes|blister packs?|pill packs?)\b|"
     r"\bstash of (?:tablets|pills)\b|\btook \d+ (?:\w+ )?(?:tablets|pills)\b|\bjump (?:off|from)\b|"
     r"\b(?:take|taken|taking|swallow|swallowed|swallowing|took) (?:all|a whole|the whole|a full|"
     r"every one of) (?:(?:of )?(?:his|"
     r"her|their|my|the) )?"
     r"(?:\w+ ){0,2}(?:tablets|pills|medication|meds|box|bottle|packet|oxycodone|morphine|insulin|"
     r"paracetamol)\b|"
     r"\b(?:hurt|harm) (?:himself|herself|themselves)\b|\bend (?:things|everything)\b|"
     r"\b(?:doesn't|does not|don't) want to be (?:here|around|alive) any ?more\b|\bwants? to be dead\b|"
     r"\bending (?:it|his life|her life)\b|\b(?:goodbye|suicide|farewell) (?:note|letter|message)s?\b|"
     r"\bhow many (?:tablets|pills) (?:it )?(?:would|will) (?:it )?take\b|"
     r"\b(?:said|saying|texted|texting|messaged|told \w+) (?:\w+ ){0,2}goodbye\b|"
     r"\b(?:life )?(?:is )?not worth living\b|\bwish(?:es)? (?:she|he|they|i) (?:was|were) dead\b|\bdsh\b|"
     r"\bself-?poison\w*|\bjumped (?:from|off)\b|\bin front of a (?:train|bus|car|lorry)\b|\b(?:with|"
     r"suicidal) intent\b(?! to (?:cure|treat))|"
     r"\b(?:took|taking|taken|swallowed|ingested) (?:about |around |approximately |"
     r"~)?\d+ ?(?:x ?)?(?:\d+ ?mg ?)?"
     r"(?:of )?(?:\w+ )?(?:tablets|pills|capsules|paracetamol|acetaminophen|codeine|co-codamol|ibuprofen|"
     r"oxycodone|morphine|tramadol|amitriptyline|sertraline|citalopram|insulin|diazepam)\b"),
    # --- collapse / unresponsive / seizure -----------------------------------------------------------
    ("collapse_seizure", "collapse or unresponsive", TRIGGER,
     r"\bcollaps(?:ed|e|ing)\b(?<!vertebral collapse)(?<!body collapse)|\bunresponsive\b(?! to\b)|"
     r"\bunrousable\b|\bunconscious\b|\b(?:not|isn't|is not) (?:rousable|waking)\b|"
     r"\b(?:not|isn't|is not|wasn't|no longer) respon(?:ding|sive)\b"
     r"(?! to (?:\w+ ){0,2}(?:analgesia|morphine|opioids?|fentanyl|oxycodone|oxynorm|treatment|fluids?|bolus|"
     r"antibiotics|medication|therapy|pca|paracetamol|ketamine|painkillers|adrenaline|steroids|nebs))|"
     r"\bslump(?:ed|ing)\b|\bkeeled over\b|\bblack(?:ed)? ?out\b|\bblackouts?\b|\bout cold\b|\bno response\b|"
     r"\bonly responding to pain\b|\bresponds? only to pain\b|\bfound (?:on the floor|on floor|down)\b|"
     r"\bfainted\b|\bpassed out\b|\bsyncop\w*|\bloss of consciousness\b|\blost consciousness\b|"
     r"\b(?:gcs|conscious level|level of consciousness) (?:is |has )?(?:dropping|falling|dropped|fallen|fell|"
     r"deteriorating|decreasing|going down)\b|\b(?:increasingly|more and more) drowsy\b|\bdrowsier\b|"
     r"\bwent floppy\b|\bfloppy\b|\b(?:went|turned|is|going) blue\b|\bpinpoint pupils\b"),
    ("collapse_seizure", "seizure", TRIGGER,
     r"\bseizur\w*|\bseizing\b|\bfitting\b|\b(?:a|had|having|another|first) fit\b|\bfits\b|\bconvuls\w*|"
     r"\btonic[- ]clonic\b|\bstatus epilepticus\b|\bpost-?ictal\b|\bjerking (?:all over|movements|of (?:all|"
     r"both))\b|"
     r"\bshaking all over\b|\beyes rolled\b|\bbit (?:her|his|their) tongue\b|\bfrothing at the mouth\b"),
    ("collapse_seizure", "cardiorespiratory arrest", TRIGGER,
     r"\bno (?:palpable )?pulse\b|\bpulseless\b|\bnot breathing\b|\bstopped breathing\b|\bapne?ic\b|"
     r"\bcardiac arrest\b|\barrested\b|\bcpr\b"),
    # --- severe pain uncontrolled despite analgesia --------------------------------------------------
    ("uncontrolled_pain", "pain out of proportion / surgical abdomen", TRIGGER,
     r"\bout of proportion\b|\brigid abdomen\b|\bperitonitic\b|\bcompartment syndrome\b"),
    ("uncontrolled_pain", "pain", "feature:pain", r"\bpain\w*|\bagony\b|\bache\b"),
    ("uncontrolled_pain", "severe pain", "feature:severe",
     r"\bexcruciating\b|\bunbearable\b|\bagony\b|\bagoni[sz]ing\b|\bsevere\b|\bintense\b|\bscreaming\b|"
     r"\bwrithing\b|\bcrying (?:out )?(?:with|in) pain\b|\bcan't lie still\b|\bworst (?:pain|ever)\b|"
     r"\bsobbing\b|\bdistressed\b|\bcan't get comfortable\b"),
    ("uncontrolled_pain", "not controlled by analgesia", "feature:uncontrolled",
     r"\bdespite\b|\bnot (?:controlled|helping|working|settling|responding|touching|improving)\b|"
     r"\buncontroll?(?:ed|able)\b|\bnothing (?:\w+ ){0,3}?(?:is )?(?:touching|helping|working|touches|helps|"
     r"works)\b|"
     r"\b(?:made |makes |making )?no (?:effect|relief|improvement|response|difference)\b|"
     r"\b(?:hasn't|has not|haven't|have not|didn't|did not) (?:made|make) (?:any|a|much) difference\b|"
     r"\bunresponsive to\b|\brefractory\b|\bout of control\b|"
     r"\balready on (?:\w+ )?(?:morphine|oxycodone|opioids?|pca|analgesia|fentanyl|ketamine|max\w*)\b|"
     r"\bstill (?:\w+ ){0,2}(?:\d+ ?/ ?10|\d+ out of 10|in (?:severe |a lot of )?pain|in agony|screaming)\b|"
     r"\bthrough the roof\b|\bcan't cope with the pain\b|\bbegging for (?:more )?(?:pain relief|analgesia|"
     r"morphine)\b|"
     r"\bpain relief (?:isn't|is not|not) (?:working|helping)\b|"
     r"\bmax(?:imum|imal)? (?:analgesia|doses?)\b|\bunrelieved\b|\bnot relieved\b|"
     r"\b(?:not|hasn't|has not|haven't) (?:eased|easing|settled|improved)\b|"
     r"\bstill\b[^.;?!]{0,25}\bafter\b[^.;?!]{0,40}\b(?:morphine|oxycodone|oxynorm|fentanyl|analgesia|"
     r"paracetamol|ketamine|opioids?|pca|tramadol|codeine|painkillers)\b"),
    ("uncontrolled_pain", "worsening", "feature:worsening",
     r"\b(?:getting|got|becoming|much|far) worse\b|\bworsening\b|\bworse (?:every|each|by the|than)\b|"
     r"\bescalat\w*|\bhour by hour\b|\bincreasing(?: in)? (?:severity|pain)\b|\bmore and more pain\b"),
    # --- undifferentiated shock ----------------------------------------------------------------------
    ("haemodynamic_instability", "hypotension or shock", TRIGGER, HYPOTENSION),
    ("haemodynamic_instability", "rapid deterioration", TRIGGER,
     r"\bdeteriorating (?:fast|rapidly|quickly)\b|\brapidly deteriorating\b"),
]
