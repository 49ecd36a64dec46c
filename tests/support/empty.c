/* keeps test_support non-empty */
typedef int bhive_test_support_empty;
