// A real OpenID provider for Allot's sign-in tests: panva's certified oidc-provider, with one
// static client and the accounts the test passes in. Its sign-in page asks only for the email
// (the test is about what Allot does with the provider's answer, not about passwords).
//
//   PORT=5xxxx REDIRECT_URI=http://localhost:8xxx/oidc/callback/ \
//   ACCOUNTS='{"ada@example.com": {"email_verified": true, "groups": ["allot-hr"]}}' \
//   node provider.js
//
// Each account's claims are returned as given (crafted ones included), plus sub and email.
import http from 'node:http';
import { URLSearchParams } from 'node:url';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID || 'allot',
      client_secret: process.env.CLIENT_SECRET || 'allot-test-secret',
      redirect_uris: [process.env.REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    // the groups Allot maps to roles, and claims a hostile provider account might add
    groups: ['groups', 'is_superuser', 'is_staff', 'roles'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, ...account };
      },
    };
  },
});

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>Test identity provider</title><h1>Test identity provider</h1>${body}`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function consent(req, res, interaction) {
  const { details } = interaction.prompt;
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({
      accountId: interaction.session.accountId,
      clientId: interaction.params.client_id,
    });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

async function interactionRoute(req, res) {
  const interaction = await provider.interactionDetails(req, res);
  if (interaction.prompt.name === 'consent') {
    await consent(req, res, interaction);
    return;
  }
  if (req.method === 'POST') {
    const email = (await readForm(req)).get('email');
    if (!accounts[email]) {
      page(res, 200, `<p id="error">No account ${email} at this provider.</p>`);
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: email } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  page(res, 200, `<form method="post" action="/interaction/${interaction.uid}">
    <label for="email">Email</label> <input id="email" name="email" autofocus>
    <button id="continue">Continue</button></form>`);
}

const handle = provider.callback();
http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interactionRoute(req, res).catch((error) => page(res, 500, `<pre>${error}</pre>`));
    return;
  }
  handle(req, res);
}).listen(port, '127.0.0.1', () => {
  console.log(`test OpenID provider at ${issuer}`);
});
