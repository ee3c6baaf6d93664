// Synthetic creator–fan chats for the end-to-end test, shaped like the extension's IndexedDB
// (OnlyFans chats and messages). Times are relative to "now" so every message falls inside
// the dashboard's default 30-day window.

export const ACCOUNT_ID = 'luna-rose';
export const CREATOR_ID = 1000;

export const FANS = [
  { key: 'mia', id: 101, name: 'Mia Torres', username: 'miat' },
  { key: 'sam', id: 102, name: 'Sam Becker', username: 'sambeck' },
  { key: 'jake', id: 103, name: 'Jake Miller', username: 'jakem' },
  { key: 'lena', id: 104, name: 'Lena Park', username: 'lenap' },
  { key: 'chris', id: 105, name: "Chris O'Neil", username: 'chriso' },
  { key: 'dan', id: 106, name: 'Dan Wright', username: 'danw' },
];

const MINUTE = 60_000;

// [minutes ago, 'fan' | 'me', text]
const SCRIPTS = {
  mia: [
    [2 * 1440 + 30, 'fan', 'Hi gorgeous! How was your weekend?'],
    [2 * 1440 + 26, 'me', 'Heyy Mia! It was lovely, went hiking 🌲 you?'],
    [2 * 1440 + 20, 'fan', 'Just chilling. Your new photos are stunning 😍'],
    [2 * 1440 + 18, 'me', 'Aww thank you, that means a lot ❤️'],
    [185, 'fan', 'Could you make a custom video for my birthday next week?'],
    [181, 'fan', 'Happy to pay whatever the price is'],
  ],
  sam: [
    [5 * 1440, 'fan', 'hey there, love your content'],
    [5 * 1440 - 4, 'me', 'Thank you Sam! Glad you are here 🥰'],
    [22, 'fan', 'is the ppv from yesterday worth it? $25 is a lot'],
  ],
  jake: [
    [3 * 1440, 'fan', 'Good morning beautiful ☀️'],
    [3 * 1440 - 9, 'me', 'Morning Jake! Have a great day'],
    [100, 'fan', 'Just renewed my subscription for another month'],
    [95, 'me', 'You are the best, thank you so much! 💕'],
    [70, 'fan', 'sent you a tip for the new set, it was amazing'],
    [61, 'me', 'Omg thank you!! Made my day 😘'],
  ],
  lena: [
    [1440 + 300, 'fan', 'Hi! When are you online tonight?'],
    [1440 + 290, 'me', 'Around 9pm my time, I will ping you'],
    [1440 + 120, 'fan', 'Perfect, see you then'],
    [1440 + 118, 'me', 'See you 😊'],
  ],
  chris: [
    [4 * 1440, 'fan', 'I paid for the bundle but the video will not load. This is really frustrating.'],
    [4 * 1440 - 45, 'me', 'So sorry about that! Let me check right away'],
    [4 * 1440 - 50, 'fan', 'I want a refund if it does not work, terrible experience'],
    [4 * 1440 - 58, 'me', 'Fixed it and added a bonus clip, really sorry 🙏'],
    [4 * 1440 - 70, 'fan', 'ok it works now, thanks'],
    [4 * 1440 - 72, 'me', 'Glad it works! Enjoy 💕'],
  ],
  dan: [
    [8 * 1440, 'fan', 'yo, do you have snapchat or whatsapp?'],
    [8 * 1440 - 15, 'me', 'I only chat here babe, but I am always around 💬'],
    [8 * 1440 - 16, 'fan', 'fair enough, you are so cute'],
    [8 * 1440 - 20, 'me', 'Hehe thank you 😘'],
  ],
};

function iso(ms) {
  return new Date(ms).toISOString();
}

function fanById(key) {
  const fan = FANS.find((f) => f.key === key);
  if (!fan) throw new Error(`unknown fan ${key}`);
  return fan;
}

export function fanMessage(key, id, at, text, fanId) {
  const chatId = fanId ?? fanById(key).id;
  return { id, chat_id: chatId, text, createdAt: iso(at), fromUser: { id: chatId } };
}

export function creatorMessage(key, id, at, text) {
  const chatId = fanById(key).id;
  return { id, chat_id: chatId, text: `<p>${text}</p>`, createdAt: iso(at), fromUser: { id: CREATOR_ID } };
}

export function buildSnapshot(now) {
  const chats = FANS.map((fan) => ({
    withUser: { id: fan.id, name: fan.name, username: fan.username },
  }));
  const messages = [];
  for (const fan of FANS) {
    SCRIPTS[fan.key].forEach(([minutesAgo, who, text], index) => {
      const at = now - minutesAgo * MINUTE;
      const id = `${fan.key}-${index + 1}`;
      messages.push(who === 'fan' ? fanMessage(fan.key, id, at, text) : creatorMessage(fan.key, id, at, text));
    });
  }
  return { chats, messages };
}
