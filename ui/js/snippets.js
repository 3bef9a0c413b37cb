// Ready-to-paste setup snippets for the tools people point at ARouter (pure: strings only).

/**
 * @param {string} base  the router's origin, e.g. "http://127.0.0.1:8402" (no trailing slash)
 * @param {string} model a model id or fallback list name to put in the examples
 * @returns {{id: string, label: string, lang: string, code: string, note?: string}[]}
 */
export function setupSnippets(base, model) {
  const b = base.replace(/\/+$/, '');
  const v1 = `${b}/v1`;
  const m = model || 'openai/gpt-4o-mini';
  return [
    {
      id: 'openai-py',
      label: 'OpenAI SDK (Python)',
      lang: 'python',
      code: `from openai import OpenAI

client = OpenAI(base_url="${v1}", api_key=AROUTER_KEY)
reply = client.chat.completions.create(
    model="${m}",
    messages=[{"role": "user", "content": "Hello!"}],
)
print(reply.choices[0].message.content)`,
    },
    {
      id: 'openai-js',
      label: 'OpenAI SDK (JS)',
      lang: 'javascript',
      code: `import OpenAI from "openai";

const client = new OpenAI({ baseURL: "${v1}", apiKey: process.env.AROUTER_KEY });
const reply = await client.chat.completions.create({
  model: "${m}",
  messages: [{ role: "user", content: "Hello!" }],
});
console.log(reply.choices[0].message.content);`,
    },
    {
      id: 'anthropic',
      label: 'Anthropic SDK',
      lang: 'python',
      code: `import anthropic

client = anthropic.Anthropic(base_url="${b}", api_key=AROUTER_KEY)
msg = client.messages.create(
    model="${m}",
    max_tokens=1024,
    messages=[{"role": "user", "content": "Hello!"}],
)
print(msg.content[0].text)`,
    },
    {
      id: 'claude-code',
      label: 'Claude Code',
      lang: 'shell',
      code: `ANTHROPIC_BASE_URL=${b} ANTHROPIC_AUTH_TOKEN=$AROUTER_KEY claude`,
      note: 'Claude Code asks for Anthropic model names (e.g. claude-sonnet-4-5). To choose what answers, also set ANTHROPIC_MODEL to a model id or fallback list from Models & routing.',
    },
    {
      id: 'gemini',
      label: 'Gemini SDK',
      lang: 'python',
      code: `from google import genai

client = genai.Client(api_key=AROUTER_KEY, http_options={"base_url": "${b}"})
reply = client.models.generate_content(model="${m}", contents="Hello!")
print(reply.text)`,
    },
    {
      id: 'cursor',
      label: 'Cursor',
      lang: 'text',
      code: `Settings → Models → OpenAI API Key: your ARouter app key
Override OpenAI Base URL: ${v1}
Add model: ${m}`,
    },
    {
      id: 'continue',
      label: 'Continue',
      lang: 'yaml',
      code: `# ~/.continue/config.yaml
models:
  - name: ARouter
    provider: openai
    model: ${m}
    apiBase: ${v1}
    apiKey: <your ARouter app key>`,
    },
    {
      id: 'aider',
      label: 'aider',
      lang: 'shell',
      code: `export OPENAI_API_BASE=${v1}
export OPENAI_API_KEY=$AROUTER_KEY
aider --model openai/${m}`,
      note: 'aider needs the extra "openai/" prefix to use its OpenAI-compatible client.',
    },
    {
      id: 'curl',
      label: 'curl',
      lang: 'shell',
      code: `curl ${v1}/chat/completions \\
  -H "Authorization: Bearer $AROUTER_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${m}", "messages": [{"role": "user", "content": "Hello!"}]}'`,
    },
  ];
}
