// POST /api/v1/conversations/{chat_id}/messages: asks the account's connected extension to
// send a message in the chat (command_to_execute). The extension's own echo of the sent
// message later arrives as an append_message whose message carries the command_id.
import type { Api } from './client';

export interface CommandQueued {
  command_id: string;
  status: 'queued';
  chat_id: string;
  issued_at: string;
}

export function sendThroughExtension(
  api: Api,
  token: string,
  accountId: string,
  chatId: string,
  text: string,
): Promise<CommandQueued> {
  return api.request<CommandQueued>(`/api/v1/conversations/${encodeURIComponent(chatId)}/messages`, {
    method: 'POST',
    token,
    query: { account_id: accountId },
    body: { text },
  });
}
