"""Labelled messages for language detection, written for this project as customers
write to a shop's support: orders, refunds, delivery, passwords, invoices, complaints,
thanks. Chat-length lines (7-89 characters), longer mails (150 characters and more),
and hard cases with fixed expected outcomes. `tests/lang/test_detect.py` runs them and
`bench/lang.py` times the detector on them.

A hard case's `expected` is the set of acceptable answers; None stands for "unknown",
the deployment's default.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("th", "fa", "pl", "tl", "vi", "en")

CHAT: dict[str, tuple[str, ...]] = {
    "en": (
        "Where is my order?",
        "Hi, my parcel still hasn't arrived.",
        "I want a refund for order 48213 please",
        "Can you resend the invoice? I can't find it",
        "I forgot my password and the reset link doesn't work",
        "The shoes are too small, how do I return them?",
        "Thanks so much, it arrived today!",
        "Why was I charged twice?",
        "Please cancel my subscription",
        "The tracking number isn't working",
        "My package came damaged, the box was crushed",
        "When will my refund be processed?",
        "Can I change the delivery address?",
        "I never received the confirmation email",
        "This is the third time I'm writing. Nobody answers!",
        "Do you ship to Canada?",
        "The discount code didn't apply at checkout",
        "Could you send me a VAT invoice for my company?",
        "Great service, thank you!",
        "I can't log in to my account",
        "Wrong item delivered, I ordered the blue one",
        "How long does delivery usually take?",
        "Is this still under warranty?",
        "Please call me back, it's urgent",
        "My card was declined but the money is gone",
        "I'd like to exchange it for a bigger size",
        "Still waiting for my money back.",
        "The courier says the address is wrong",
        "Hello, any update on my complaint?",
        "Please delete my account and my data",
        "Order arrived but one item is missing",
        "Thank you for the quick reply!",
        "Can I pay by bank transfer?",
        "Very disappointed with the quality.",
        "the app keeps logging me out",
        # typed in a hurry: no capitals or diacritics, slang, emoji
        "hi where's my order #48213?? 😡",
        "pls refund asap",
        "still no parcel... tracking says delivered but nothing here",
        "cant login again!!",
        "thx got it 👍 all good",
    ),
    "pl": (
        "Gdzie jest moje zamówienie?",
        "Dzień dobry, paczka nadal nie dotarła.",
        "Proszę o zwrot pieniędzy za zamówienie 48213",
        "Czy mogę prosić o fakturę na firmę?",
        "Nie pamiętam hasła, a link do resetu nie działa",
        "Buty są za małe, jak mogę je zwrócić?",
        "Dziękuję bardzo, paczka dzisiaj doszła!",
        "Dlaczego pobraliście opłatę dwa razy?",
        "Proszę anulować moją subskrypcję",
        "Numer przesyłki nie działa",
        "Paczka przyszła uszkodzona, karton był zgnieciony",
        "Kiedy dostanę zwrot pieniędzy?",
        "Czy mogę zmienić adres dostawy?",
        "Nie dostałem maila z potwierdzeniem",
        "Piszę już trzeci raz i nikt nie odpowiada!",
        "Czy wysyłacie do Niemiec?",
        "Kod rabatowy nie zadziałał przy zamówieniu",
        "Proszę o korektę faktury, zły NIP",
        "Super obsługa, dziękuję!",
        "Nie mogę się zalogować do konta",
        "Przyszedł zły produkt, zamawiałam niebieski",
        "Ile trwa dostawa?",
        "Czy to jest jeszcze na gwarancji?",
        "Proszę o pilny kontakt telefoniczny",
        "Karta odrzucona, a pieniądze zniknęły z konta",
        "Chciałabym wymienić na większy rozmiar",
        "Dalej czekam na zwrot.",
        "Kurier twierdzi, że adres jest błędny",
        "Dzień dobry, czy jest coś nowego w sprawie reklamacji?",
        "Proszę usunąć moje konto i dane",
        "W paczce brakuje jednej rzeczy",
        "Dziękuję za szybką odpowiedź!",
        "Czy można zapłacić przelewem?",
        "Jestem bardzo rozczarowana jakością.",
        "aplikacja ciągle mnie wylogowuje",
        # typed in a hurry: no capitals or diacritics, slang, emoji
        "hej gdzie moja paczka #48213?? 😡",
        "prosze o zwrot kasy",
        "dalej nic, kurier pisze ze doreczone a nic nie ma",
        "nie moge sie zalogowac znowu!!",
        "dzieki, doszlo 👍",
    ),
    "vi": (
        "Đơn hàng của tôi đâu rồi?",
        "Chào shop, mình vẫn chưa nhận được hàng.",
        "Tôi muốn hoàn tiền đơn 48213",
        "Gửi lại giúp mình hóa đơn được không?",
        "Tôi quên mật khẩu, link đặt lại không hoạt động",
        "Giày bị chật, đổi trả thế nào ạ?",
        "Cảm ơn shop, hôm nay mình nhận được hàng rồi!",
        "Sao tôi bị trừ tiền hai lần?",
        "Vui lòng hủy gói đăng ký của tôi",
        "Mã vận đơn không tra cứu được",
        "Hàng giao tới bị móp, hộp bị bẹp",
        "Khi nào tôi được hoàn tiền?",
        "Tôi đổi địa chỉ giao hàng được không?",
        "Tôi không nhận được email xác nhận",
        "Đây là lần thứ ba tôi nhắn mà không ai trả lời!",
        "Shop có giao ra Đà Nẵng không?",
        "Mã giảm giá không áp dụng được khi thanh toán",
        "Cho mình xin hóa đơn VAT công ty nhé",
        "Dịch vụ tốt lắm, cảm ơn!",
        "Tôi không đăng nhập được vào tài khoản",
        "Giao sai hàng rồi, tôi đặt màu xanh",
        "Giao hàng thường mất bao lâu vậy?",
        "Sản phẩm này còn bảo hành không?",
        "Gọi lại cho tôi gấp nhé",
        "Thẻ bị từ chối nhưng tiền đã bị trừ",
        "Mình muốn đổi sang size lớn hơn",
        "Vẫn đang chờ hoàn tiền.",
        "Shipper nói địa chỉ bị sai",
        "Chào bạn, khiếu nại của tôi sao rồi?",
        "Xin xóa tài khoản và dữ liệu của tôi",
        "Nhận hàng rồi nhưng thiếu một món",
        "Cảm ơn bạn đã trả lời nhanh!",
        "Tôi chuyển khoản ngân hàng được không?",
        "Rất thất vọng về chất lượng.",
        "ứng dụng cứ tự đăng xuất",
        # typed in a hurry: no capitals or diacritics, slang, emoji
        "shop ơi đơn #48213 của em đâu rồi 😡",
        "hoàn tiền giúp em với",
        "vẫn chưa thấy hàng, tracking báo giao rồi mà",
        "ko đăng nhập được nữa!!",
        "nhận rồi nha shop 👍",
    ),
    "tl": (
        "Nasaan na po ang order ko?",
        "Hello po, hindi pa rin dumarating ang parcel ko.",
        "Gusto ko pong ma-refund ang order 48213",
        "Pwede po bang ipadala ulit ang resibo?",
        "Nakalimutan ko ang password ko at hindi gumagana ang link",
        "Maliit po ang sapatos, paano ko ito ibabalik?",
        "Maraming salamat po, dumating na kanina!",
        "Bakit po dalawang beses akong siningil?",
        "Pakikansela po ang subscription ko",
        "Hindi gumagana ang tracking number",
        "Sira po ang dumating na package, yupi ang kahon",
        "Kailan ko po matatanggap ang refund ko?",
        "Pwede ko bang palitan ang address ng delivery?",
        "Hindi ko natanggap ang email na kumpirmasyon",
        "Pangatlong beses ko na itong sinusulat, walang sumasagot!",
        "Nagde-deliver po ba kayo sa Cebu?",
        "Ayaw gumana ng discount code sa checkout",
        "Pwede po bang humingi ng opisyal na resibo para sa kumpanya?",
        "Ang galing ng serbisyo ninyo, salamat!",
        "Hindi ako makapag-login sa account ko",
        "Mali ang dumating na item, asul ang inorder ko",
        "Gaano po katagal ang delivery?",
        "May warranty pa po ba ito?",
        "Pakitawagan po ako, importante lang",
        "Na-decline ang card ko pero nabawasan ang pera ko",
        "Gusto ko pong palitan ng mas malaking size",
        "Hinihintay ko pa rin ang refund ko.",
        "Sabi ng rider mali daw ang address",
        "Magandang araw po, may balita na ba sa reklamo ko?",
        "Pakibura po ang account at mga datos ko",
        "Dumating ang order pero kulang ng isang item",
        "Salamat po sa mabilis na sagot!",
        "Pwede po bang magbayad sa bangko?",
        "Sobrang nadismaya ako sa kalidad.",
        "lagi akong nila-log out ng app",
        # typed in a hurry: no capitals or diacritics, slang, emoji
        "hello po asan na order ko #48213?? 😡",
        "pa-refund na po pls",
        "wala pa rin po, delivered daw pero wala naman dito",
        "di ako maka-login ulit!!",
        "salamat po natanggap ko na 👍",
    ),
    "th": (
        "ออเดอร์ของฉันอยู่ไหนคะ",
        "สวัสดีค่ะ พัสดุยังไม่มาถึงเลยค่ะ",
        "ขอคืนเงินคำสั่งซื้อ 48213 ครับ",
        "ส่งใบกำกับภาษีให้อีกครั้งได้ไหมคะ",
        "ลืมรหัสผ่าน และลิงก์รีเซ็ตใช้ไม่ได้",
        "รองเท้าเล็กไป คืนสินค้ายังไงครับ",
        "ขอบคุณมากค่ะ ได้รับของวันนี้แล้ว",
        "ทำไมตัดเงินสองครั้งคะ",
        "ช่วยยกเลิกการสมัครสมาชิกให้ด้วยครับ",
        "เลขพัสดุเช็คไม่ได้ค่ะ",
        "ของมาถึงแต่เสียหาย กล่องบุบหมดเลย",
        "จะได้เงินคืนเมื่อไหร่ครับ",
        "เปลี่ยนที่อยู่จัดส่งได้ไหมคะ",
        "ไม่ได้รับอีเมลยืนยันเลยครับ",
        "ทักมาครั้งที่สามแล้ว ไม่มีใครตอบเลย!",
        "ส่งไปเชียงใหม่ได้ไหมคะ",
        "ใช้โค้ดส่วนลดตอนชำระเงินไม่ได้",
        "ขอใบกำกับภาษีในนามบริษัทค่ะ",
        "บริการดีมาก ขอบคุณครับ",
        "เข้าสู่ระบบบัญชีไม่ได้ค่ะ",
        "ส่งของผิดมา สั่งสีฟ้าค่ะ",
        "ปกติจัดส่งกี่วันครับ",
        "สินค้านี้ยังอยู่ในประกันไหมคะ",
        "รบกวนโทรกลับด่วนค่ะ",
        "บัตรถูกปฏิเสธแต่เงินถูกตัดไปแล้ว",
        "อยากเปลี่ยนเป็นไซส์ใหญ่ขึ้นค่ะ",
        "ยังรอเงินคืนอยู่นะคะ",
        "คนส่งของบอกว่าที่อยู่ผิด",
        "สวัสดีครับ เรื่องร้องเรียนไปถึงไหนแล้วครับ",
        "กรุณาลบบัญชีและข้อมูลของฉันด้วยค่ะ",
        "ได้ของแล้วแต่ขาดไปหนึ่งชิ้น",
        "ขอบคุณที่ตอบเร็วนะคะ",
        "โอนผ่านธนาคารได้ไหมครับ",
        "ผิดหวังกับคุณภาพมากค่ะ",
        "แอปเด้งออกจากระบบตลอดเลย",
        # typed in a hurry: no capitals or diacritics, slang, emoji
        "แอดมินคะ ออเดอร์ #48213 ไปไหนแล้ว 😡",
        "ขอคืนเงินด่วนค่ะ",
        "ยังไม่ได้ของเลย ระบบขึ้นว่าส่งแล้ว",
        "ล็อกอินไม่ได้อีกแล้ว!!",
        "ได้รับแล้วค่ะ ขอบคุณนะคะ 👍",
    ),
    "fa": (
        "سفارش من کجاست؟",
        "سلام، بسته من هنوز نرسیده.",
        "لطفا پول سفارش ۴۸۲۱۳ را برگردانید",
        "میشه فاکتور رو دوباره بفرستید؟",
        "رمز عبورم را فراموش کردم و لینک بازیابی کار نمی‌کند",
        "کفش کوچک است، چطور پسش بدهم؟",
        "خیلی ممنون، امروز رسید!",
        "چرا دو بار از حسابم پول کم شد؟",
        "لطفا اشتراک من را لغو کنید",
        "کد رهگیری کار نمی‌کند",
        "بسته آسیب دیده رسید، جعبه له شده بود",
        "کی پولم برگردانده می‌شود؟",
        "می‌توانم آدرس ارسال را عوض کنم؟",
        "ایمیل تایید برایم نیامد",
        "این سومین بار است که پیام می‌دهم و کسی جواب نمی‌دهد!",
        "به شیراز هم ارسال دارید؟",
        "کد تخفیف موقع پرداخت اعمال نشد",
        "لطفا فاکتور رسمی به نام شرکت صادر کنید",
        "خدماتتان عالی است، ممنونم!",
        "نمی‌توانم وارد حسابم شوم",
        "کالای اشتباه فرستادید، من آبی سفارش داده بودم",
        "ارسال معمولا چند روز طول می‌کشد؟",
        "این کالا هنوز گارانتی دارد؟",
        "لطفا فوری با من تماس بگیرید",
        "کارتم رد شد ولی پول از حسابم کم شده",
        "می‌خواهم با سایز بزرگتر عوض کنم",
        "هنوز منتظر بازگشت پولم هستم.",
        "پیک می‌گوید آدرس اشتباه است",
        "سلام، شکایت من به کجا رسید؟",
        "لطفا حساب کاربری و اطلاعاتم را حذف کنید",
        "سفارش رسید ولی یک قلم کم است",
        "ممنون از پاسخ سریعتان!",
        "می‌شود با کارت به کارت پرداخت کرد؟",
        "از کیفیت خیلی ناامید شدم.",
        "برنامه مدام از حسابم خارج می‌شود",
        # typed in a hurry: no capitals or diacritics, slang, emoji
        "سلام سفارش #۴۸۲۱۳ من کو؟؟ 😡",
        "لطفا پولمو برگردونید",
        "هنوز نرسیده، تو سایت زده تحویل شده",
        "دوباره نمیتونم وارد بشم!!",
        "مرسی رسید 👍",
    ),
}

LONG: dict[str, tuple[str, ...]] = {
    "en": (
        "Hello, I ordered a pair of running shoes two weeks ago (order 48213) and the "
        "tracking page has said 'in transit' for nine days now. Could you please check "
        "with the courier and tell me when I can expect it?",
        "Hi, I was charged twice for the same order yesterday. I can see both payments "
        "on my bank statement. Please refund the second one as soon as possible and "
        "confirm by email once it is done. Thank you.",
        "Good morning. The jacket I received has a broken zip and a stain on the sleeve. "
        "I would like to return it for a full refund rather than an exchange. What do I "
        "need to do, and do I have to pay for the return shipping?",
        "I have been trying to reset my password since Monday but the email with the "
        "link never arrives. I have checked the spam folder too. My account is under "
        "this address. Can you reset it for me or tell me what is wrong?",
        "Dear support, I need an invoice with my company's name and VAT number for the "
        "order I placed last Friday. The one attached to the confirmation only has my "
        "personal name on it. Our accounts department cannot accept it like that.",
    ),
    "pl": (
        "Dzień dobry, dwa tygodnie temu zamówiłam buty do biegania (zamówienie 48213), a "
        "na stronie śledzenia przesyłki od dziewięciu dni widnieje status 'w drodze'. "
        "Czy mogą Państwo sprawdzić to u kuriera?",
        "Witam, wczoraj pobrano ode mnie opłatę dwa razy za to samo zamówienie. Widzę "
        "obie płatności na wyciągu z konta. Proszę o zwrot drugiej kwoty jak najszybciej "
        "i potwierdzenie mailem. Z góry dziękuję.",
        "Dzień dobry. Kurtka, którą otrzymałem, ma zepsuty zamek i plamę na rękawie. "
        "Chciałbym ją zwrócić i dostać zwrot pieniędzy, a nie wymianę. Co muszę zrobić "
        "i czy muszę zapłacić za odesłanie paczki?",
        "Od poniedziałku próbuję zresetować hasło, ale mail z linkiem w ogóle nie "
        "przychodzi. Sprawdzałam też folder spam. Konto jest założone na ten adres. "
        "Czy mogą Państwo zresetować je ręcznie albo powiedzieć, co jest nie tak?",
        "Szanowni Państwo, potrzebuję faktury VAT z nazwą firmy i numerem NIP do "
        "zamówienia złożonego w zeszły piątek. Na potwierdzeniu jest tylko moje imię i "
        "nazwisko, a księgowość nie może przyjąć takiego dokumentu.",
    ),
    "vi": (
        "Chào shop, hai tuần trước mình có đặt một đôi giày chạy bộ (đơn 48213) mà trang "
        "theo dõi đơn hàng cứ báo 'đang vận chuyển' suốt chín ngày nay. Shop kiểm tra "
        "với bên giao hàng giúp mình và cho mình biết khi nào nhận được nhé.",
        "Xin chào, hôm qua tôi bị trừ tiền hai lần cho cùng một đơn hàng. Tôi thấy cả hai "
        "khoản trong sao kê ngân hàng. Vui lòng hoàn lại khoản thứ hai sớm nhất có thể "
        "và xác nhận qua email giúp tôi. Cảm ơn.",
        "Chào bạn. Chiếc áo khoác tôi nhận được bị hỏng khóa kéo và có vết bẩn ở tay áo. "
        "Tôi muốn trả lại và được hoàn tiền chứ không muốn đổi hàng. Tôi cần làm gì và "
        "có phải trả phí gửi trả không?",
        "Từ thứ Hai tới giờ tôi cố đặt lại mật khẩu nhưng email có đường link không bao "
        "giờ đến. Tôi đã kiểm tra cả thư mục spam. Tài khoản của tôi đăng ký bằng địa "
        "chỉ này. Bạn đặt lại giúp tôi hoặc cho tôi biết bị lỗi gì được không?",
        "Kính gửi bộ phận hỗ trợ, tôi cần hóa đơn có tên công ty và mã số thuế cho đơn "
        "hàng đặt hôm thứ Sáu tuần trước. Hóa đơn kèm theo xác nhận chỉ có tên cá nhân "
        "của tôi, phòng kế toán không chấp nhận như vậy.",
    ),
    "tl": (
        "Magandang araw po. Dalawang linggo na po mula nang umorder ako ng sapatos na "
        "pantakbo (order 48213) at siyam na araw nang nakalagay sa tracking na 'in "
        "transit'. Pakitingnan naman po sa courier kung kailan ito darating.",
        "Hello po, dalawang beses po akong siningil kahapon para sa iisang order. Nakikita "
        "ko po ang dalawang bayad sa statement ng bangko ko. Pakibalik po agad ang "
        "pangalawang bayad at pakisabihan ako sa email kapag tapos na. Salamat po.",
        "Magandang umaga po. Sira po ang zipper ng jacket na natanggap ko at may mantsa "
        "pa sa manggas. Gusto ko po itong ibalik at makuha ang buong bayad, hindi "
        "papalitan. Ano po ang kailangan kong gawin at ako po ba ang magbabayad ng "
        "pagpapadala pabalik?",
        "Simula pa noong Lunes sinusubukan kong palitan ang password ko pero hindi "
        "dumarating ang email na may link. Tiningnan ko na rin ang spam. Nakarehistro ang "
        "account ko sa address na ito. Pwede po bang kayo na ang mag-reset o sabihin kung "
        "ano ang mali?",
        "Sa inyong customer service, kailangan ko po ng resibo na nakapangalan sa aming "
        "kumpanya at may TIN para sa order na ginawa ko noong nakaraang Biyernes. Ang "
        "kasama sa kumpirmasyon ay may pangalan ko lang, at hindi ito tinatanggap ng "
        "aming accounting.",
    ),
    "th": (
        "สวัสดีค่ะ เมื่อสองสัปดาห์ก่อนสั่งรองเท้าวิ่งไปหนึ่งคู่ (คำสั่งซื้อ 48213) แต่หน้าติดตามพัสดุ"
        "ขึ้นว่า 'อยู่ระหว่างขนส่ง' มาเก้าวันแล้ว รบกวนช่วยตรวจสอบกับบริษัทขนส่งให้หน่อยได้ไหมคะ "
        "ว่าจะได้รับของเมื่อไหร่",
        "สวัสดีครับ เมื่อวานผมโดนตัดเงินสองครั้งสำหรับคำสั่งซื้อเดียวกัน เห็นรายการทั้งสองรายการใน"
        "รายการเดินบัญชีธนาคาร รบกวนคืนเงินรายการที่สองโดยเร็วที่สุด และแจ้งยืนยันทางอีเมลด้วยครับ "
        "ขอบคุณครับ",
        "สวัสดีค่ะ เสื้อแจ็คเก็ตที่ได้รับมีซิปเสียและมีคราบเปื้อนที่แขนเสื้อ อยากส่งคืนและขอเงินคืนเต็ม"
        "จำนวน ไม่ต้องการเปลี่ยนสินค้าค่ะ ต้องทำอย่างไรบ้าง และต้องจ่ายค่าส่งคืนเองหรือเปล่าคะ",
        "ตั้งแต่วันจันทร์พยายามรีเซ็ตรหัสผ่านแต่ไม่เคยได้รับอีเมลที่มีลิงก์เลย ดูในโฟลเดอร์สแปมแล้วก็"
        "ไม่มี บัญชีสมัครไว้ด้วยอีเมลนี้ ช่วยรีเซ็ตให้หน่อยหรือบอกได้ไหมครับว่ามีปัญหาอะไร",
        "เรียนฝ่ายบริการลูกค้า ต้องการใบกำกับภาษีเต็มรูปที่มีชื่อบริษัทและเลขประจำตัวผู้เสียภาษี"
        "สำหรับคำสั่งซื้อเมื่อวันศุกร์ที่แล้วค่ะ ใบที่แนบมากับอีเมลยืนยันมีแค่ชื่อส่วนตัว ฝ่ายบัญชีรับไม่ได้ค่ะ",
    ),
    "fa": (
        "سلام، دو هفته پیش یک جفت کفش دویدن سفارش دادم (سفارش ۴۸۲۱۳) و صفحه رهگیری نه روز "
        "است که وضعیت را «در حال ارسال» نشان می‌دهد. لطفا با شرکت پست پیگیری کنید و بگویید "
        "کی به دستم می‌رسد.",
        "سلام، دیروز برای یک سفارش دو بار از حسابم پول برداشته شد. هر دو تراکنش را در صورتحساب "
        "بانکی‌ام می‌بینم. لطفا مبلغ دوم را هر چه زودتر برگردانید و بعد از انجام با ایمیل خبر "
        "بدهید. ممنون.",
        "روز بخیر. زیپ کاپشنی که به دستم رسید خراب است و روی آستینش هم لک دارد. می‌خواهم "
        "پسش بدهم و کل پولم را بگیرم، نه اینکه عوضش کنم. باید چه کار کنم و آیا هزینه ارسال "
        "برگشت با من است؟",
        "از دوشنبه تا حالا سعی می‌کنم رمز عبورم را عوض کنم اما ایمیلی که لینک دارد هیچ‌وقت "
        "نمی‌رسد. پوشه اسپم را هم نگاه کردم. حسابم با همین آدرس ساخته شده. لطفا خودتان بازیابی "
        "کنید یا بگویید مشکل چیست.",
        "با سلام و احترام، برای سفارشی که جمعه گذشته ثبت کردم به فاکتور رسمی با نام شرکت و "
        "شناسه ملی نیاز دارم. فاکتوری که همراه تایید سفارش آمد فقط نام شخصی من را دارد و "
        "واحد حسابداری آن را قبول نمی‌کند.",
    ),
}


@dataclass(frozen=True)
class Hard:
    case: str
    text: str
    expected: frozenset[str | None]  # acceptable answers; None is "unknown"
    subject: str | None = None
    subject_is_ours: bool = False


def _hard(case: str, text: str, *expected: str | None, subject: str | None = None,
          ours: bool = False) -> Hard:
    return Hard(case, text, frozenset(expected), subject, ours)


_QUOTED_EN = (
    "\n\nOn Mon, 3 Mar 2025 at 10:12, Acme Support <support@acme.test> wrote:\n"
    "> Hello,\n> thank you for your message. Your order left our warehouse today and\n"
    "> should arrive within two business days. Your reference is [#42-k7q2m].\n"
    "> Kind regards, Acme Support\n")
_OUTLOOK_EN = (
    "\n\n________________________________\nFrom: Acme Support <support@acme.test>\n"
    "Sent: Monday, March 3, 2025 10:12 AM\nTo: customer@example.com\n"
    "Subject: We have your message [#42-k7q2m]\n\nHello, thank you for writing to us. "
    "We will answer by Tuesday 4 March, 10:12.\n")

HARD: tuple[Hard, ...] = (
    # Taglish: Tagalog and English in one line, as Filipinos write; either is fine
    _hard("taglish-tracking", "Hi po, yung order ko hindi pa dumating, can you check "
          "the tracking please?", "tl", "en"),
    _hard("taglish-refund", "Sorry po but the item I received is damaged, pwede po ba "
          "ma-refund?", "tl", "en"),
    _hard("taglish-password", "Paano po mag-reset ng password? I tried it na pero walang "
          "email.", "tl", "en"),
    _hard("taglish-thanks", "Thank you po sa fast reply, super helpful kayo!", "tl", "en"),
    # "bayad" (payment) is also Finglish for "must": Tagalog must still be answered
    _hard("tl-bayad", "Bayad na po ako kahapon, kailan po ninyo ipapadala ang order ko?",
          "tl"),
    _hard("tl-bayad-ke", "Yung bayad ko po kahapon, na-receive na po ba ninyo?", "tl", "en"),
    # Vietnamese typed without diacritics: Vietnamese or unknown, never another language
    _hard("vi-plain-where", "Don hang cua toi dau roi?", "vi", None),
    _hard("vi-plain-not-received", "Toi chua nhan duoc hang, shop kiem tra giup", "vi", None),
    _hard("vi-plain-invoice", "Cho minh xin hoa don VAT nhe", "vi", None),
    _hard("vi-plain-refund", "Khi nao thi duoc hoan tien vay shop?", "vi", None),
    _hard("vi-plain-password", "Toi quen mat khau roi, lam sao dang nhap?", "vi", None),
    # Persian in Latin letters (Finglish): unknown, never a language
    _hard("finglish-not-arrived", "salam, sefaresh man hanooz naresideh", None),
    _hard("finglish-thanks", "mersi, baste residesh", None),
    _hard("finglish-refund", "lotfan pool ro bargardoonid", None),
    _hard("finglish-charged", "chera do bar pool az hesabam kam shod?", None),
    _hard("finglish-password", "ramzam yadam rafte, komak konid lotfan", None),
    _hard("vi-plain-1", "Shop oi, don cua minh giao chua vay?", "vi", None),
    _hard("vi-plain-2", "Hang bi loi, toi muon doi tra", "vi", None),
    _hard("vi-plain-3", "Sao toi bi tru tien hai lan?", "vi", None),
    _hard("vi-plain-4", "Minh muon huy don hang nay", "vi", None),
    _hard("vi-plain-5", "Cam on shop nhieu nha", "vi", None),
    _hard("vi-plain-6", "Ma giam gia khong dung duoc", "vi", None),
    _hard("vi-plain-7", "Giao hang mat bao lau vay?", "vi", None),
    _hard("vi-plain-8", "Toi khong dang nhap duoc tai khoan", "vi", None),
    _hard("vi-plain-9", "Dia chi giao hang bi sai roi", "vi", None),
    _hard("vi-plain-10", "Bao gio thi hoan tien cho toi?", "vi", None),
    _hard("finglish-1", "salam, mikhastam bedoonam sefareshe man kojast", None),
    _hard("finglish-2", "kheili mamnoon, residesh", None),
    _hard("finglish-3", "chera hanooz ersal nashode?", None),
    _hard("finglish-4", "ramze hesabam ro yadam rafte", None),
    _hard("finglish-5", "mishe ghabz ro befrestid?", None),
    _hard("finglish-6", "lotfan sefaresham ro laghv konid", None),
    _hard("finglish-7", "salam, pardakht kardam vali sefaresh sabt nashod", None),
    _hard("finglish-8", "kafsh kuchike, mishe avazesh konam?", None),
    _hard("finglish-9", "dirooz kharid kardam, key mirese?", None),
    _hard("finglish-10", "motasefam vali kalaye eshtebah ersal shode", None),
    # Thai with English product names
    _hard("th-iphone", "iPhone 15 Pro Max ที่สั่งไปยังไม่ได้รับเลยค่ะ", "th"),
    _hard("th-airpods", "สั่ง AirPods Pro กับ Apple Watch ไปเมื่อวาน จะส่งเมื่อไหร่ครับ", "th"),
    _hard("th-galaxy", "Samsung Galaxy S24 Ultra หน้าจอแตกมาค่ะ ขอเปลี่ยนเครื่อง", "th"),
    # replies above a quoted English thread: the language of the new words
    _hard("pl-above-en", "Dziękuję, ale paczka nadal nie dotarła." + _QUOTED_EN, "pl"),
    _hard("vi-above-en", "Cảm ơn, nhưng tôi vẫn chưa nhận được hàng." + _QUOTED_EN, "vi"),
    _hard("tl-above-en", "Salamat po, pero hindi pa rin dumarating." + _QUOTED_EN, "tl"),
    _hard("th-above-en", "ขอบคุณค่ะ แต่ยังไม่ได้รับของเลย" + _OUTLOOK_EN, "th"),
    _hard("fa-above-en", "ممنون، ولی بسته هنوز نرسیده." + _OUTLOOK_EN, "fa"),
    _hard("pl-iphone-above-en", "Proszę o fakturę na firmę.\n\nSent from my iPhone"
          + _QUOTED_EN, "pl"),
    # languages the deployment does not serve: unknown (the default), not the nearest
    # served one (Indonesian and Malay read as Tagalog, Czech and Croatian as Polish,
    # Arabic and Urdu letters as Persian)
    _hard("id", "Di mana pesanan saya? Sudah dua minggu saya menunggu.", None),
    _hard("id-refund", "Tolong kembalikan uang saya", None),
    _hard("ms", "Bila pesanan saya akan dihantar?", None),
    _hard("cs", "Kde je moje objednávka? Čekám už dva týdny.", None),
    _hard("sk", "Prosím o vrátenie peňazí", None),
    _hard("hr", "Gdje je moja narudžba? Čekam već dva tjedna.", None),
    _hard("es", "Dónde está mi pedido? Llevo dos semanas esperando.", None),
    _hard("de", "Wo ist meine Bestellung? Ich warte seit zwei Wochen.", None),
    _hard("fr", "Où est ma commande ? J'attends depuis deux semaines.", None),
    _hard("nl", "Waar is mijn bestelling? Ik wacht al twee weken.", None),
    _hard("ar", "أين طلبي؟ أنتظر منذ أسبوعين.", None),
    _hard("ar-refund", "أريد استرداد أموالي من فضلك", None),
    _hard("ur", "میرا آرڈر کہاں ہے؟ دو ہفتوں سے انتظار کر رہا ہوں", None),
    _hard("ru", "Где мой заказ? Жду уже две недели.", None),
    _hard("zh", "我的订单在哪里？已经等了两个星期了。", None),
    # nothing to go on
    _hard("ok", "ok", None),
    _hard("number", "#12345", None),
    _hard("emoji", "👍", None),
    _hard("emojis", "🙏🙏🙏", None),
    _hard("url", "https://shop.example.com/orders/48213", None),
    _hard("address", "anna.nowak@example.com", None),
    _hard("handle-and-tag", "@acme_support #12345", None),
    # the subject: ours is English and says nothing of the customer's language
    _hard("our-subject", "ok", None, subject="Re: [#42-k7q2m] We have your message",
          ours=True),
    _hard("our-subject-pl", "Dziękuję bardzo!", "pl",
          subject="Re: [#42-k7q2m] We have your message", ours=True),
    _hard("their-subject", "?", "pl", subject="Odp: Zwrot pieniędzy za zamówienie"),
    _hard("their-subject-vi", "48213", "vi", subject="Fwd: Đơn hàng chưa giao"),
)
