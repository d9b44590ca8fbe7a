// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests of the PASID space: budgets, fixed values, the owner's and
 * the users' references, exhaustion of a range, lookups and backends.
 * Included at the end of pasid.c. They run at boot, before any user of
 * the space, and use values near the top of the space only.
 */
#include <kunit/test.h>

#define PK_BASE		(IOASID_PASID_MAX - 64)

static void pasid_test_budget(struct kunit *test)
{
	DEFINE_IOASID_PASID_SET(set, 2);
	ioasid_t a, b, c;

	KUNIT_ASSERT_EQ(test, ioasid_pasid_alloc(&set, PK_BASE, PK_BASE + 9,
						 NULL, &a), 0);
	KUNIT_ASSERT_EQ(test, ioasid_pasid_alloc(&set, PK_BASE, PK_BASE + 9,
						 NULL, &b), 0);
	KUNIT_EXPECT_NE(test, a, b);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc(&set, PK_BASE, PK_BASE + 9,
						 NULL, &c), -EDQUOT);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc_fixed(&set, PK_BASE + 9, NULL),
			-EDQUOT);
	KUNIT_EXPECT_EQ(test, set.nr, 2U);
	ioasid_pasid_free(a);
	KUNIT_EXPECT_EQ(test, set.nr, 1U);
	KUNIT_ASSERT_EQ(test, ioasid_pasid_alloc(&set, PK_BASE, PK_BASE + 9,
						 NULL, &c), 0);
	ioasid_pasid_free(b);
	ioasid_pasid_free(c);
	KUNIT_EXPECT_EQ(test, set.nr, 0U);
}

static void pasid_test_ranges(struct kunit *test)
{
	DEFINE_IOASID_PASID_SET(set, 0);
	ioasid_t v[3], extra;
	int i;

	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc(&set, 0, 5, NULL, &extra),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc(&set, 9, 5, NULL, &extra),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc(&set, 5, IOASID_PASID_MAX + 1,
						 NULL, &extra), -EINVAL);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc_fixed(&set, 0, NULL), -EINVAL);
	for (i = 0; i < 3; i++) {
		KUNIT_ASSERT_EQ(test, ioasid_pasid_alloc(&set, PK_BASE + 20,
							 PK_BASE + 22, NULL,
							 &v[i]), 0);
		KUNIT_EXPECT_GE(test, v[i], PK_BASE + 20);
		KUNIT_EXPECT_LE(test, v[i], PK_BASE + 22);
	}
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc(&set, PK_BASE + 20,
						 PK_BASE + 22, NULL, &extra),
			-ENOSPC);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc_fixed(&set, v[1], NULL),
			-EEXIST);
	KUNIT_EXPECT_EQ(test, set.nr, 3U);
	ioasid_pasid_free(v[1]);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc_fixed(&set, v[1], NULL), 0);
	for (i = 0; i < 3; i++)
		ioasid_pasid_free(v[i]);
}

static bool pasid_test_getter(void *data)
{
	return *(int *)data == 7;
}

/* The owner frees; a user's reference keeps the value taken. */
static void pasid_test_refs(struct kunit *test)
{
	DEFINE_IOASID_PASID_SET(owner, 1);
	DEFINE_IOASID_PASID_SET(other, 0);
	ioasid_t p = PK_BASE + 30;
	int data = 7, wrong = 3;

	KUNIT_ASSERT_EQ(test, ioasid_pasid_alloc_fixed(&owner, p, &data), 0);
	KUNIT_EXPECT_PTR_EQ(test, ioasid_pasid_find(&owner, p, NULL),
			    (void *)&data);
	KUNIT_EXPECT_PTR_EQ(test, ioasid_pasid_find(&owner, p,
						    pasid_test_getter),
			    (void *)&data);
	KUNIT_EXPECT_TRUE(test, IS_ERR(ioasid_pasid_find(&other, p, NULL)));
	KUNIT_EXPECT_EQ(test, ioasid_pasid_get(&other, p), -ENOENT);
	KUNIT_ASSERT_EQ(test, ioasid_pasid_get(&owner, p), 0);

	ioasid_pasid_free(p);
	KUNIT_EXPECT_EQ(test, owner.nr, 0U);
	/* no longer the owner's: not found, no new user */
	KUNIT_EXPECT_TRUE(test, IS_ERR(ioasid_pasid_find(&owner, p, NULL)));
	KUNIT_EXPECT_EQ(test, ioasid_pasid_get(&owner, p), -ENOENT);
	/* but still taken while the user holds it */
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc_fixed(&other, p, NULL),
			-EEXIST);
	ioasid_pasid_put(p);
	KUNIT_ASSERT_EQ(test, ioasid_pasid_alloc_fixed(&other, p, &wrong), 0);
	/* a getter that refuses */
	KUNIT_EXPECT_TRUE(test, IS_ERR(ioasid_pasid_find(&other, p,
							 pasid_test_getter)));
	ioasid_pasid_free(p);
}

struct pasid_test_backend {
	struct ioasid_pasid_backend backend;
	ioasid_t next;
	unsigned int freed;
};

static ioasid_t pasid_test_backend_alloc(ioasid_t min, ioasid_t max,
					 void *data)
{
	struct pasid_test_backend *tb = data;

	if (tb->next < min || tb->next > max)
		return INVALID_IOASID;
	return tb->next++;
}

static void pasid_test_backend_free(ioasid_t pasid, void *data)
{
	struct pasid_test_backend *tb = data;

	tb->freed++;
}

static void pasid_test_backend(struct kunit *test)
{
	struct pasid_test_backend tb = {
		.backend = {
			.alloc = pasid_test_backend_alloc,
			.free = pasid_test_backend_free,
		},
		.next = PK_BASE + 40,
	};
	DEFINE_IOASID_PASID_SET(set, 0);
	ioasid_t a, b;

	tb.backend.data = &tb;
	if (!xa_empty(&ioasid_pasids)) {
		/* Someone holds a value: a backend cannot come in now. */
		KUNIT_EXPECT_EQ(test, ioasid_pasid_add_backend(&tb.backend),
				-EBUSY);
		return;
	}
	KUNIT_ASSERT_EQ(test, ioasid_pasid_add_backend(&tb.backend), 0);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc(&set, PK_BASE, PK_BASE + 60,
						 NULL, &a), 0);
	KUNIT_EXPECT_EQ(test, a, PK_BASE + 40);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc(&set, PK_BASE, PK_BASE + 60,
						 NULL, &b), 0);
	KUNIT_EXPECT_EQ(test, b, PK_BASE + 41);
	/* only the backend picks values */
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc_fixed(&set, PK_BASE + 50,
						       NULL), -EOPNOTSUPP);
	/* outside what the backend can give */
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc(&set, PK_BASE, PK_BASE + 10,
						 NULL, &b), -ENOSPC);
	ioasid_pasid_free(a);
	KUNIT_EXPECT_EQ(test, tb.freed, 1U);
	ioasid_pasid_free(PK_BASE + 41);
	KUNIT_EXPECT_EQ(test, tb.freed, 2U);
	ioasid_pasid_remove_backend(&tb.backend);
	/* removing one that is not installed is ignored */
	ioasid_pasid_remove_backend(&tb.backend);
	KUNIT_EXPECT_EQ(test, ioasid_pasid_alloc_fixed(&set, PK_BASE + 50,
						       NULL), 0);
	ioasid_pasid_free(PK_BASE + 50);
}

static struct kunit_case pasid_test_cases[] = {
	KUNIT_CASE(pasid_test_budget),
	KUNIT_CASE(pasid_test_ranges),
	KUNIT_CASE(pasid_test_refs),
	KUNIT_CASE(pasid_test_backend),
	{}
};

static struct kunit_suite pasid_test_suite = {
	.name = "ioasid-pasid",
	.test_cases = pasid_test_cases,
};

kunit_test_suite(pasid_test_suite);
