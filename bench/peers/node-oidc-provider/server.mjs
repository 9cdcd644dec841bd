// node-oidc-provider configured to answer what bench/peers/run asks of oidcd: discovery, the
// JWK set, client credentials with RS256 JWT access tokens (RFC 9068, as oidcd's), and
// introspection (of an opaque token: it does not introspect its JWTs). One process, as it is usually run; NODE_ENV=production.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT ?? 3999);
const issuer = `http://127.0.0.1:${port}`;
const secret = process.env.CLIENT_SECRET;
const OPAQUE = 'urn:oidcd-bench:opaque';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench',
      client_secret: secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'api',
    },
  ],
  scopes: ['openid', 'offline_access', 'api'],
  jwks: { keys: [jwk] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => issuer,
      useGrantedResource: () => true,
      // RS256 JWTs by default, as oidcd's. It introspects only its opaque tokens, so the
      // token the introspection scenario sends is asked for this resource.
      getResourceServerInfo: (ctx, resource) =>
        resource === OPAQUE
          ? { scope: 'api', accessTokenFormat: 'opaque', accessTokenTTL: 3600 }
          : { scope: 'api', accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg: 'RS256' } } },
    },
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`listening on ${issuer}`));
