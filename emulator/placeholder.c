/* emulator core placeholder */
typedef int emu_placeholder;
