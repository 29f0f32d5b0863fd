import { AppError } from '../../../shared/errors.ts';
import type { Ability } from '../../../shared/permissions.ts';
import { middleware } from '../init.ts';
import type { Tenant } from './tenant.ts';

export const requireAbility = (ability: Ability) =>
  middleware(({ ctx, next }) => {
    const { tenant } = ctx as unknown as { tenant: Tenant };
    if (!tenant.abilities.includes(ability)) {
      throw new AppError('ABILITY_MISSING', `This action needs the "${ability}" ability`, { ability });
    }
    return next();
  });
